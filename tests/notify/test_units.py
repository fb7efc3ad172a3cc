"""Formatting, redaction, language fallback, channel rules, and the sandboxes' pages."""
from __future__ import annotations

import email
import email.policy
import email.utils
import shutil
from datetime import date

import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from sandboxes import mail, sms
from sandboxes.settings import SandboxSettings
from services.notify.adapters.email import build_message, mime_bytes
from services.notify.adapters.templates import TEMPLATE_DIR, Renderer, TemplateMissing
from services.notify.domain.format import format_date, format_datetime, format_money, normalize_language
from services.notify.domain.messages import Intent, intent_for
from services.notify.domain.recipients import Profile, deliveries
from services.notify.domain.redaction import find_secrets, redact_secrets
from shared.contracts.enrollment import EnrollmentCreatedData
from shared.contracts.payments import (
    AutopayCancelledData,
    AutopayCreatedData,
    AutopayUpcomingData,
    PaymentSubmittedData,
)
from shared.contracts.registry import read
from shared.http import errors_middleware


def test_amounts_and_dates_per_language():
    assert format_money(123456, "en") == "$1,234.56" == format_money(123456, "es")
    assert format_money(5, "en") == "$0.05" and format_money(-250000, "es") == "-$2,500.00"
    assert format_date(date(2026, 11, 23), "en") == "November 23, 2026"
    assert format_date("2026-11-23", "es") == "23 de noviembre de 2026"
    assert format_datetime("2026-07-04T16:30:00+00:00", "en") == "July 4, 2026 at 12:30 PM ET"
    assert format_datetime("2026-01-04T16:30:00+00:00", "es") == "4 de enero de 2026 a las 11:30 a. m. ET"
    assert [normalize_language(x) for x in ("es-US", "Spanish", "EN", None, "pt")] == ["es", "es", "en", "en", "en"]
    with pytest.raises(AssertionError):
        format_money(1.5)  # money is never a float


def test_redaction_masks_full_numbers_and_keeps_safe_ones():
    text = "SSN 123-45-6789, card 4111 1111 1111 1111, acct 000123456789; conf 987654321012; $1,234.56 on 2026-11-23"
    masked, count = redact_secrets(text, allowed=("987654321012",))
    assert count == 3
    assert "****6789" in masked and "****1111" in masked and "987654321012" in masked
    assert "$1,234.56" in masked and "2026-11-23" in masked
    assert find_secrets(masked, ("987654321012",)) == []
    assert find_secrets("ending in 6789, call 1-877-623-6765", ("1-877-623-6765",)) == []
    assert find_secrets("ssn 123456789") == ["123456789"]


def test_a_language_without_a_template_falls_back_to_english(tmp_path):
    shutil.copytree(TEMPLATE_DIR, tmp_path / "t")
    (tmp_path / "t" / "es" / "username_reminder.j2").unlink()
    (tmp_path / "t" / "es" / "autopay_cancelled.j2").write_text(
        "{% block subject %}Pagos automáticos cancelados{% endblock %}{% block text %}{% endblock %}")
    renderer = Renderer(tmp_path / "t")
    ctx = {"first_name": "Ana", "ban_last4": "1234", "plan_type": "dental", "portal_url": "https://p",
           "support_phone": "1-877-623-6765", "username": "ana78", "reason": "member_request",
           "returned": False, "drafts_in_flight": []}
    whole = renderer.render("username_reminder", "es", ctx)
    assert whole.subject == "Your Health Connector username" and "ana78" in whole.text and whole.sms
    partial = renderer.render("autopay_cancelled", "es", ctx)
    assert partial.subject == "Pagos automáticos cancelados"
    assert "Automatic payments for your Dental plan" in partial.text  # empty block -> English
    with pytest.raises(TemplateMissing):
        renderer.render("no_such_template", "es", ctx)


def test_html_is_escaped_and_text_is_not():
    out = Renderer().render("username_reminder", "en", {
        "username": "<b>&you</b>", "portal_url": "https://p", "support_phone": "1"})
    assert "<b>&you</b>" in out.text
    assert "&lt;b&gt;&amp;you&lt;/b&gt;" in out.html and "<b>&you</b>" not in out.html


def _submitted(**fields) -> PaymentSubmittedData:
    base = {"payment_id": "p2", "confirmation_number": "PC-1", "billing_account_number": "7000000001",
            "plan_type": "health", "kind": "one_time", "amount_cents": 5_850, "allocations": [],
            "method": {"type": "checking", "last4": "6789"}, "expected_withdrawal_date": "2030-12-09",
            "mandate_id": None, "contact": {}, "channel": "member"}
    return PaymentSubmittedData(**{**base, **fields})


def test_channels_follow_preferences_and_policy():
    payment = intent_for(_submitted(contact={"email": "a@x.org", "phone": "6175550101"}))
    assert payment is not None
    off = Profile(email_enabled=False, sms_enabled=True)
    assert [(d.channel, d.recipient) for d in deliveries(payment, off)] == [("sms", "+16175550101")]
    assert [d.channel for d in deliveries(payment, Profile())] == ["email"]  # texts need opt-in
    guest = intent_for(_submitted(channel="guest", contact={"email": "g@x.org"}))
    assert [d.recipient for d in deliveries(guest, off)] == ["g@x.org"]  # the payer asked for it
    reset = Intent("password_reset", member_id="m", contact={"email": "r@x.org", "phone": "6175550101"},
                   policy="email_only")
    assert [d.channel for d in deliveries(reset, Profile(sms_enabled=True))] == ["email"]
    assert deliveries(Intent("bill_ready", billing_account_number="7"), Profile(email=None)) == []
    assert intent_for(EnrollmentCreatedData(
        enrollment_id="E-1", household_id="H-1", plan_type="health", coverage_year=2030,
        coverage_start="2030-01-01", plan_name="p", carrier="c", premium_cents=1,
        shopped_at="2029-11-02T10:00:00Z", subscriber={"first_name": "A", "last_name": "B",
                                                       "date_of_birth": "1980-01-01"},
        contact={})) is None  # projection only
    with pytest.raises(ValidationError):  # a stage the contract does not know never gets here
        read("account.delinquent", {"billing_account_number": "7000000001", "stage": "other",
                                    "aptc": False, "past_due_cents": 1, "grace_start": "2030-01-01",
                                    "grace_end": "2030-01-31", "month_of_grace": 1})


async def test_mail_catcher_pages_escape_and_the_api_filters(tmp_path):
    settings = SandboxSettings(data_dir=tmp_path, smtp_port=0)
    app = web.Application(middlewares=[errors_middleware])
    mail.register(app, settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        port = app[mail.MAIL_CATCHER].port
        message = build_message(sender="HC <no-reply@hc.example>", recipient="a@x.org",
                                subject="<script>alert(1)</script>", text="plain & simple",
                                html="<p onclick='x()'>hi</p><script>alert(2)</script>",
                                message_id="<1@hc.example>", language="en")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
        await aiosmtplib.send(build_message(sender="no-reply@hc.example", recipient="b@x.org", subject="second",
                                            text="t", html=None, message_id="<2@hc.example>", language="en"),
                              hostname="127.0.0.1", port=port)
        body = await (await client.get("/mail/api/messages", params={"to": "a@x.org"})).json()
        [caught] = body["messages"]
        assert caught["subject"] == "<script>alert(1)</script>" and caught["text"].strip() == "plain & simple"
        assert set(caught) == {"id", "from", "to", "subject", "text", "html", "received_at"}
        everyone = (await (await client.get("/mail/api/messages")).json())["messages"]
        assert [m["subject"] for m in everyone] == ["second", "<script>alert(1)</script>"]  # newest first
        index = await client.get("/mail/")
        page = await index.text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
        assert "script-src" not in index.headers["Content-Security-Policy"]
        shown = await (await client.get(f"/mail/messages/{caught['id']}")).text()
        assert "<script>" not in shown and "iframe sandbox" in shown
        frame = await client.get(f"/mail/messages/{caught['id']}/html")
        assert "sandbox" in frame.headers["Content-Security-Policy"]
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 2
        assert mail.MailStore(tmp_path / "mail").to("b@x.org")[0]["subject"] == "second"  # survives restart
        assert (await client.delete("/mail/api/messages")).status == 200
        assert (await (await client.get("/mail/api/messages")).json())["messages"] == []
    finally:
        await client.close()


async def test_sms_sandbox_records_and_refuses_like_a_provider(tmp_path):
    app = web.Application(middlewares=[errors_middleware])
    sms.register(app, SandboxSettings(data_dir=tmp_path))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.post("/sms/v1/messages", json={"to": "+16175550101", "body": "hello"})
        assert r.status == 201 and (await r.json())["sid"].startswith("SM")
        listed = (await (await client.get("/sms/v1/messages", params={"to": "+16175550101"})).json())["messages"]
        assert [m["body"] for m in listed] == ["hello"]
        bad = await client.post("/sms/v1/messages", json={"to": "617", "body": ""})
        assert bad.status == 422 and set((await bad.json())["error"]["fields"]) == {"to", "body"}
        assert (await client.post("/sms/v1/messages", json={"to": sms.INVALID_NUMBER, "body": "x"})).status == 400
        assert (await client.post("/sms/v1/messages", json={"to": sms.UNAVAILABLE_NUMBER, "body": "x"})).status == 503
        assert (tmp_path / "sms" / "messages.jsonl").exists()
    finally:
        await client.close()


def test_a_retry_after_a_return_is_announced_as_a_retry_not_as_a_new_payment():
    assert intent_for(_submitted()).template == "payment_received"
    retry = intent_for(_submitted(attempt=2, retry_of="p1"))
    assert retry.template == "payment_retry" and retry.facts["expected_withdrawal_date"] == "2030-12-09"


def test_a_cancellation_after_a_return_says_so_and_names_no_draft_when_none_is_left():
    data = {"billing_account_number": "7000000001", "mandate_id": "m", "reason": "R07: authorization revoked",
            "contact": {"email": "a@x.org"}, "drafts_in_flight": []}
    intent = intent_for(AutopayCancelledData(**data))
    assert intent is not None and intent.facts["returned"] is True
    ctx = {"first_name": None, "ban_last4": "0001", "plan_type": "health", "portal_url": "https://p", "support_phone": "1",
           **intent.facts}
    out = Renderer().render("autopay_cancelled", "en", ctx)
    assert "have been cancelled because your bank returned a payment." in out.text
    assert "No withdrawal is scheduled any more." in out.text and "already sent" not in out.text
    asked = intent_for(AutopayCancelledData(**{**data, "reason": "member_request"}))
    assert asked is not None and asked.facts["returned"] is False
    out = Renderer().render("autopay_cancelled", "es", {**ctx, **asked.facts})
    assert "se cancelaron." in out.text and "devolvió" not in out.text


def test_the_autopay_notice_and_a_set_up_s_first_draft_are_read_from_their_typed_payloads():
    contact = {"email": "a@x.org", "phone": None, "language": "es"}
    method = {"type": "checking", "last4": "6789"}
    notice = read("autopay.upcoming", {
        "mandate_id": "m", "billing_account_number": "7000000001", "amount_cents": 45210,
        "draft_date": "2026-12-22", "previous_amount_cents": None, "contact": contact,
        "method": method, "cycle": "2026-12", "reason": "first", "cancel_by": "2026-12-17",
        "notice_range": {"low_cents": 1, "high_cents": 2}, "added_later": True})
    assert isinstance(notice, AutopayUpcomingData)
    intent = intent_for(notice)
    assert intent is not None and intent.template == "autopay_upcoming"
    assert intent.contact == contact and intent.billing_account_number == "7000000001"
    assert intent.facts == {"amount_cents": 45210, "draft_date": "2026-12-22",
                            "previous_amount_cents": None, "method": method,
                            "cancel_by": "2026-12-17", "reason": "first"}
    created = dict(mandate_id="m", billing_account_number="7000000001", method=method,
                   next_draft_date="2026-12-22", contact=contact, confirmation_number="AUT-1")
    stated = intent_for(AutopayCreatedData(**created, first_draft_amount_cents=31000))
    assert stated is not None and stated.facts["first_draft_amount_cents"] == 31000
    plain = intent_for(AutopayCreatedData(**created))
    assert plain is not None and plain.facts["first_draft_amount_cents"] is None


@pytest.mark.parametrize("language,said", [
    ("en", "pay $624.94 by June 5, 2027"), ("es", "pague $624.94 a más tardar el 5 de junio de 2027")])
def test_a_termination_notice_states_the_reinstatement_only_when_the_event_carries_it(language, said):
    data = {"billing_account_number": "7000000001", "enrollment_ids": ["E1"], "coverage_year": 2027,
            "effective_date": "2027-04-30", "reason": "non_payment"}
    ctx = {"first_name": "Ann", "ban_last4": "0001", "plan_type": "health", "portal_url": "https://p",
           "support_phone": "1-877-623-6765", "language": language}
    quoted = intent_for(read("coverage.terminated", {**data, "reinstatement_amount_cents": 624_94,
                                                     "reinstate_by": "2027-06-05"}))
    assert quoted is not None
    out = Renderer().render("coverage_terminated", language, {**ctx, **quoted.facts})
    assert said in out.text and said in out.html.replace("<strong>", "").replace("</strong>", "")
    assert "$624.94" in out.sms
    plain = intent_for(read("coverage.terminated", data))
    assert plain is not None
    out = Renderer().render("coverage_terminated", language, {**ctx, **plain.facts})
    assert "$" not in out.text and "$" not in out.sms


@pytest.mark.parametrize("language,said,usual", [
    ("en", "it goes as Same Day ACH: it is withdrawn on the day above.", "usually in 2 to 3 business days"),
    ("es", "va como ACH del mismo día (Same Day ACH): se retira el día indicado arriba.",
     "normalmente en 2 a 3 días hábiles")])
def test_a_binder_sent_same_day_says_so_on_its_receipt(language, said, usual):
    ctx = {"first_name": None, "ban_last4": "0001", "portal_url": "https://p", "support_phone": "1"}
    same_day = intent_for(_submitted(same_day_ach=True, contact={"email": "a@x.org", "language": language}))
    assert same_day is not None and same_day.facts["same_day_ach"] is True
    out = Renderer().render("payment_received", language, {**ctx, **same_day.facts})
    assert said in out.text and said in out.html and usual not in out.text
    usual_one = intent_for(_submitted(contact={"email": "a@x.org", "language": language}))
    assert usual_one is not None
    out = Renderer().render("payment_received", language, {**ctx, **usual_one.facts})
    assert "Same Day ACH" not in out.text and usual in out.text


def test_a_message_as_bytes_reads_back_in_any_mail_client_with_its_spanish_subject() -> None:
    subject = ("Recibimos su pago de $1.234,56 para su plan de salud: confirmación "
               "PC-0000000001, ¡gracias! Año 2027, señora Muñoz")
    raw = mime_bytes(sender="Health Connector <no-reply@hc.example>", recipient="ana@example.org",
                     subject=subject, text="Hola Ana,\nrecibimos su pago.",
                     html="<p>Hola Ana, recibimos su <b>pago</b>.</p>",
                     message_id="<0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@hc.example>",
                     language="es", headers={"X-Template": "payment_received"})
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == subject
    assert message["Message-ID"] == "<0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@hc.example>"
    assert message["Content-Language"] == "es" and message["X-Template"] == "payment_received"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content() == "Hola Ana,\nrecibimos su pago."
    assert html.get_content_type() == "text/html"
    assert "recibimos su <b>pago</b>" in html.get_content()
    assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None


def test_an_ascii_message_without_html_is_one_plain_part() -> None:
    raw = mime_bytes(sender="no-reply@hc.example", recipient="a@x.org", subject="Payment received",
                     text="Thank you.", html=None, message_id="<1@hc.example>", language="en")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Payment received"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Thank you."
