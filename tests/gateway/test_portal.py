"""GATEWAY-UNIT tests of the portal's server-rendered pages without JavaScript (plain form
posts), in front of fake upstream services. The real flows run in Chromium against the real
stack in tests/browser/."""
from __future__ import annotations

import re

import asyncpg
import pytest

from services.gateway.entrypoints import keys
from tests.gateway import fakes


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def hidden_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


IDENTIFY = {"plan_type": "health", "id_type": "ssn", "ssn": fakes.SSN, "ssn_confirmation": fakes.SSN,
            "first_name": "maria ", "last_name": " SANTOS", "date_of_birth": "1984-03-15"}
BILLING = {"amount_choice": "total", "kind": "one_time", "method_type": "checking",
           "account_holder_name": "Maria Santos", "routing_number": "011000015",
           "routing_number_confirmation": "011000015", "account_number": "9876543210",
           "account_number_confirmation": "9876543210"}


async def start(client) -> str:
    return csrf_of(await (await client.get("/quick-pay")).text())


async def test_quick_pay_without_javascript_ends_in_a_confirmation(gw, gateway_db, upstream):
    csrf = await start(gw)
    r = await gw.post("/quick-pay", data={**IDENTIFY, "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/quick-pay/contact"
    page = await (await gw.get("/quick-pay/contact")).text()
    assert "maria@example.org" not in page  # the enrollment's email is not shown to a guest
    r = await gw.post("/quick-pay/contact", data={"email": "m@example.org", "email_confirmation": "M@example.org",
                                                  "phone": "(617) 555-0101", "csrf_token": csrf})
    page = await r.text()
    assert "Step 4" in page and "$193.00" in page and "$94.00" in page and "$99.00" in page
    assert 'value="card"' not in page  # the program takes bank accounts only
    r = await gw.post("/quick-pay/billing", data={**BILLING, "csrf_token": csrf})
    page = await r.text()
    assert "Review your payment" in page and "ending in 3210" in page and "captcha-image" in page
    hidden = hidden_of(page)
    conn = await asyncpg.connect(gateway_db)
    answer = await conn.fetchval("SELECT answer FROM captcha_challenges WHERE captcha_id = $1", hidden["captcha_id"])
    await conn.close()
    wrong = await gw.post("/quick-pay/submit", data={**hidden, "captcha_answer": "1", "action": "submit"})
    page = await wrong.text()
    assert wrong.status == 422 and "did not match the picture" in page and not upstream.payments
    hidden = hidden_of(page)
    conn = await asyncpg.connect(gateway_db)
    answer = await conn.fetchval("SELECT answer FROM captcha_challenges WHERE captcha_id = $1", hidden["captcha_id"])
    await conn.close()
    r = await gw.post("/quick-pay/submit", data={**hidden, "captcha_answer": answer, "action": "submit"})
    page = await r.text()
    assert "Payment received" in page and "HC00000001" in page and "m@example.org" in page
    body = next(iter(upstream.payments.values()))[0]
    assert body["channel"] == "guest" and body["method"]["account_number"] == "9876543210"


async def test_quick_pay_errors_sit_next_to_their_fields_and_keep_no_secrets(gw):
    csrf = await start(gw)
    r = await gw.post("/quick-pay", data={**IDENTIFY, "ssn_confirmation": "123456780", "csrf_token": csrf})
    page = await r.text()
    assert r.status == 422
    assert re.search(r'id="ssn-confirmation-error"[^>]*>The two Social Security numbers are not the same', page)
    assert fakes.SSN not in page and "123456780" not in page
    assert 'value="maria "' in page or 'value="maria"' in page  # the name is kept
    r = await gw.post("/quick-pay", data={**IDENTIFY, "date_of_birth": "1984-03-16", "csrf_token": csrf})
    page = await r.text()
    assert r.status == 404 and "1-877-623-6765" in page and "4 hours" in page
    r = await gw.post("/quick-pay", data={**IDENTIFY, "id_type": "enrollment_id", "enrollment_id": "3300999999",
                                          "csrf_token": csrf})
    page = await r.text()
    assert r.status == 409 and "less than 4 hours ago" in page and "1-877-623-6765" in page
    # The time once, in New York time with ET, and an offer to be told then.
    assert page.count("January 1, 2030 at 10:00 AM ET") == 1 and page.count(" ET") == 1
    assert 'action="/quick-pay/payable-reminder"' in page and 'name="payable_token"' in page


async def test_billing_errors_keep_the_amount_but_not_the_account_number(gw):
    csrf = await start(gw)
    await gw.post("/quick-pay", data={**IDENTIFY, "csrf_token": csrf})
    await gw.post("/quick-pay/contact", data={"email": "m@example.org", "email_confirmation": "m@example.org",
                                              "phone": "6175550101", "csrf_token": csrf})
    r = await gw.post("/quick-pay/billing", data={**BILLING, "amount_choice": "other", "other_amount": "12.345",
                                                  "account_number_confirmation": "9876543211", "csrf_token": csrf})
    page = await r.text()
    assert r.status == 422 and "Enter an amount in dollars and cents" in page
    assert 'value="12.345"' in page and "9876543210" not in page


async def test_a_form_without_its_csrf_token_is_refused_in_plain_words(gw):
    await start(gw)
    r = await gw.post("/quick-pay", data=IDENTIFY)
    page = await r.text()
    assert r.status == 403 and "This form has expired" in page and "Traceback" not in page


async def test_too_many_tries_says_when_to_try_again_in_both_languages(gw):
    csrf = await start(gw)
    body = {**IDENTIFY, "id_type": "enrollment_id", "enrollment_id": fakes.THROTTLED_ID, "csrf_token": csrf}
    r = await gw.post("/quick-pay", data=body)
    page = await r.text()
    assert r.status == 429
    assert re.search(r"Too many tries\. Please try again in 5 minutes, after \d{1,2}:\d\d [AP]M ET\.", page), page
    assert 'value="Maria' in page or 'value="maria' in page   # what was typed is kept
    page = await (await gw.post("/quick-pay?lang=es", data=body)).text()
    assert re.search(r"Inténtelo de nuevo en 5 minutos, después de las \d{1,2}:\d\d [ap]\. m\. ET\.", page), page


async def test_a_used_or_expired_reset_link_says_so_before_the_form(gw):
    page = await (await gw.get("/reset-password?token=used-token")).text()
    assert "This link was already used" in page and 'name="new_password"' not in page
    assert 'href="/forgot-password"' in page
    page = await (await gw.get("/reset-password?token=old-token&lang=es")).text()
    assert "Este enlace venció" in page and 'name="new_password"' not in page
    page = await (await gw.get("/reset-password?token=fresh-token&lang=en")).text()
    assert 'name="new_password"' in page and "already used" not in page
    page = await (await gw.get("/reset-password")).text()
    assert "not complete" in page and 'name="new_password"' not in page


async def test_common_password_and_other_refusals_read_as_sentences(gw):
    from services.gateway.entrypoints.forms import api_errors
    from services.gateway.translations import translate
    from shared.http import ApiError
    exc = ApiError(422, "invalid_input", "Some fields are not valid.",
                   {"new_password": "is too common: it appears in lists of breached passwords",
                    "contact.email": "Enter an email address for the confirmation."})
    errors = api_errors(exc)
    assert translate("en", errors["new_password"]).startswith("This password is too common")
    assert translate("es", errors["new_password"]).startswith("Esta contraseña es demasiado común")
    assert translate("es", errors["email"]) != translate("en", errors["email"])


async def test_spanish_portal(gw):
    page = await (await gw.get("/", headers={"Accept-Language": "es-US,es;q=0.9,en;q=0.5"})).text()
    assert '<html lang="es">' in page  # the browser's first choice, until the member picks
    page = await (await gw.get("/quick-pay?lang=es")).text()
    assert '<html lang="es">' in page and "Pago rápido" in page and "Número de Seguro Social" in page
    page = await (await gw.get("/login")).text()  # the choice is remembered
    assert "Iniciar sesión" in page and 'href="/login?lang=en"' in page


async def test_member_portal_login_dashboard_and_autopay(gw_no_captcha, upstream):
    gw = gw_no_captcha
    upstream.users["maria.s"] = {"password": "correct horse battery", "member_id": "m-1"}
    csrf = csrf_of(await (await gw.get("/login")).text())
    r = await gw.post("/login", data={"username": "maria.s", "password": "nope", "csrf_token": csrf})
    assert r.status == 401 and "username or password is not right" in await r.text()
    r = await gw.post("/login", data={"username": "paused-user", "password": "x", "csrf_token": csrf})
    page = await r.text()
    assert r.status == 429 and "Log-ins are paused" in page and "ET, or reset your password" in page
    r = await gw.post("/login", data={"username": "maria.s", "password": "correct horse battery", "csrf_token": csrf})
    page = await r.text()
    assert "Welcome, Maria" in page and "$193.00" in page and "2031" in page
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay")).text()
    assert "Automatic payments are off" in page
    assert f"I authorize debits for {fakes.BAN_A}." in page and 'lang="en"' not in page.split("<body", 1)[1]
    # In Spanish the terms are asked for and shown in Spanish, with no "in English" note.
    es = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay?lang=es")).text()
    assert f"Autorizo débitos para {fakes.BAN_A}." in es and "I authorize" not in es
    assert 'id="authorization-text">' in es and "está en inglés" not in es
    await gw.get(f"/accounts/{fakes.BAN_A}/autopay?lang=en")
    form = {"method_type": "savings", "account_holder_name": "Maria Santos", "routing_number": "011000015",
            "routing_number_confirmation": "011000015", "account_number": "55501234",
            "account_number_confirmation": "55501234", "csrf_token": csrf_of(page),
            "idempotency_key": hidden_of(page)["idempotency_key"]}
    page = await (await gw.post(f"/accounts/{fakes.BAN_A}/autopay", data=form)).text()
    assert "Automatic payments are on" in page and "December 22, 2030" in page
    change = {**form, "method_type": "checking", "account_number": "7770009999",
              "account_number_confirmation": "7770009999"}
    page = await (await gw.post(f"/accounts/{fakes.BAN_A}/autopay", data=change)).text()
    assert "Checking account ending in 9999" in page  # the same mandate, another account
    assert len(upstream.autopay) == 1
    page = await (await gw.post(f"/accounts/{fakes.BAN_A}/autopay/cancel", data={"csrf_token": csrf})).text()
    assert "Automatic payments are off" in page
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/history")).text()
    assert "December 2030" in page and "January 2031" in page and "$99.00" in page
    assert f"/accounts/{fakes.BAN_A}/statements/2030-11" in page and "Statement for November 2030" in page
    assert (await gw.get(f"/accounts/{fakes.BAN_B}/history")).status == 403
    r = await gw.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    page = await (await gw.get(r.headers["Location"])).text()
    assert "You are logged out" in page
    r = await gw.get("/dashboard", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_a_statement_is_a_printable_portal_page_and_a_letter_pdf(gw_no_captcha, upstream):
    gw = gw_no_captcha
    await login(gw, upstream)
    r = await gw.get(f"/accounts/{fakes.BAN_A}/statements/2030-11")
    page = await r.text()
    assert r.status == 200 and "Health premium statement, November 2030" in page
    assert f'href="/accounts/{fakes.BAN_A}/history"' in page       # the way back
    assert "usa-header" in page and "Health Connector Payments" in page   # the exchange's header
    assert "November 2, 2030" in page and "December 2030" in page  # dates as people write them
    assert "Payment received" in page and "$58.50" in page and "$-58.50" not in page
    assert "$99.00" in page and "$40.50" in page and "-" + "$" not in page
    pdf = await gw.get(f"/accounts/{fakes.BAN_A}/statements/2030-11", params={"format": "pdf"})
    body = await pdf.read()
    assert pdf.headers["Content-Type"] == "application/pdf" and body[:4] == b"%PDF"
    # US Letter: 612 x 792 points.
    assert re.search(rb"/MediaBox\s*\[\s*0(\.0+)?\s+0(\.0+)?\s+612(\.0+)?\s+792(\.0+)?\s*\]", body), body[:2000]
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/statements/2030-11?lang=es")).text()
    assert "Estado de cuenta de su plan de salud, noviembre de 2030" in page
    assert "2 de noviembre de 2030" in page and "Pago recibido" in page and "Volver al historial" in page
    for month in ("2030-13", "2030-00", "2030-1", "abcd-ef", "２０３０-11"):
        r = await gw.get(f"/accounts/{fakes.BAN_A}/statements/{month}?lang=en")
        page = await r.text()
        assert r.status == 404 and "Page not found" in page and "try again in a few minutes" not in page, month


async def login(gw, upstream) -> str:
    upstream.users["maria.s"] = {"password": "correct horse battery", "member_id": "m-1"}
    csrf = csrf_of(await (await gw.get("/login")).text())
    r = await gw.post("/login", data={"username": "maria.s", "password": "correct horse battery",
                                      "csrf_token": csrf})
    assert r.status == 200 and "Welcome" in await r.text()
    return csrf


async def test_member_pays_from_the_portal_once_per_form(gw_no_captcha, upstream):
    gw = gw_no_captcha
    await login(gw, upstream)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay")).text()
    form = {**BILLING, "amount_choice": "other", "other_amount": "50.00", "csrf_token": csrf_of(page),
            "idempotency_key": hidden_of(page)["idempotency_key"], "kind": "one_time"}
    first = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    again = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()  # a double click
    assert "Payment received" in first and "HC00000001" in first and "HC00000001" in again
    assert len(upstream.payments) == 1
    body = next(iter(upstream.payments.values()))[0]
    assert body["channel"] == "member" and body["member_id"] == "m-1" and body["amount"] == "50.00"


async def test_a_member_without_a_phone_pays_and_sets_up_autopay_with_no_phone_sent(gw_no_captcha,
                                                                                 upstream):
    gw = gw_no_captcha
    upstream.member_phone = None
    await login(gw, upstream)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay")).text()
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    assert "Payment received" in await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay")).text()
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    assert "Automatic payments are on" in await (await gw.post(f"/accounts/{fakes.BAN_A}/autopay",
                                                               data=form)).text()
    sent = [body for service, _, _, body in upstream.seen if service == "payments" and body]
    contacts = [body["contact"] for body in sent if "contact" in body]
    assert len(contacts) == 2  # the payment and the recurring set-up
    assert all(c.get("phone") is None and c["email"] == "maria@example.org" for c in contacts), contacts
    assert "0000000000" not in repr(sent)


async def test_contact_details_and_preferences(gw_no_captcha, upstream):
    gw = gw_no_captcha
    csrf = await login(gw, upstream)
    page = await (await gw.get("/profile")).text()
    assert 'value="maria@example.org"' in page and 'id="email-enabled" type="checkbox" name="email_enabled" checked' in page
    r = await gw.post("/profile", data={"email": "not-an-email", "phone": "6175550101", "language": "es",
                                        "csrf_token": csrf})
    assert r.status == 422 and "Enter an email address" in await r.text()
    r = await gw.post("/profile", data={"email": "new@example.org", "phone": "6175550199", "language": "es",
                                        "sms_enabled": "on", "csrf_token": csrf})
    assert r.status == 200 and "were saved" in await r.text()
    sent = [body for svc, what, _, body in upstream.seen if what.startswith("PATCH")][-1]
    assert sent == {"email": "new@example.org", "phone": "6175550199", "language": "es",
                    "email_enabled": False, "sms_enabled": True}
    # An emptied phone field removes the number (identity turns texts off with it).
    r = await gw.post("/profile", data={"email": "new@example.org", "phone": "", "language": "es",
                                        "csrf_token": csrf})
    assert r.status == 200
    sent = [body for svc, what, _, body in upstream.seen if what.startswith("PATCH")][-1]
    assert "phone" in sent and sent["phone"] is None


async def test_forgotten_password_and_username_pages_never_say_whether_an_account_exists(gw, upstream):
    csrf = csrf_of(await (await gw.get("/forgot-password")).text())
    r = await gw.post("/forgot-password", data={"username": "nobody", "csrf_token": csrf})
    assert "If we found your account" in await r.text()
    r = await gw.post("/forgot-username", data={"email": "nope", "csrf_token": csrf})
    assert r.status == 422 and "Enter an email address" in await r.text()
    r = await gw.post("/forgot-username", data={"email": "who@example.org", "csrf_token": csrf})
    assert "If we found your account" in await r.text()
    sent = [(what, body) for svc, what, _, body in upstream.seen if svc == "identity"]
    assert ("POST /username-reminders", {"email": "who@example.org"}) in sent
    reset = next(body for what, body in sent if what == "POST /password-resets")
    # No address for the link: identity builds it from its own PUBLIC_URL.
    assert reset == {"username": "nobody", "email": None}


async def test_card_fields_appear_only_when_the_program_takes_cards(gw, upstream):
    csrf = await start(gw)
    await gw.post("/quick-pay", data={**IDENTIFY, "csrf_token": csrf})
    r = await gw.post("/quick-pay/contact", data={"email": "m@example.org", "email_confirmation": "m@example.org",
                                                  "phone": "6175550101", "csrf_token": csrf})
    assert 'id="card-number"' not in await r.text()
    upstream.cards_enabled = True
    gw.app[keys.DEPS].use_cases._config = None
    page = await (await gw.get("/quick-pay/billing")).text()
    assert 'value="card"' in page and 'id="card-number"' in page


async def test_autopay_offers_bank_accounts_only(gw_no_captcha, upstream):
    upstream.cards_enabled = True
    await login(gw_no_captcha, upstream)
    page = await (await gw_no_captcha.get(f"/accounts/{fakes.BAN_A}/autopay")).text()
    assert 'value="savings"' in page and 'value="card"' not in page
    page = await (await gw_no_captcha.get(f"/accounts/{fakes.BAN_A}/pay")).text()
    assert 'value="card"' in page  # one-time payments may use a card where the program allows


async def test_purge_job_removes_expired_sessions_only(gateway_db):
    import subprocess
    import sys
    from pathlib import Path

    def purge() -> str:
        return subprocess.run([sys.executable, "-m", "services.gateway.cli", "purge-sessions",
                               "--date", "2030-01-01"], capture_output=True, text=True, check=True,
                              env={"GATEWAY_DATABASE_URL": gateway_db, "PATH": "/usr/bin:/bin"},
                              cwd=Path(__file__).parents[2]).stdout

    purge()  # migrates a fresh database too
    conn = await asyncpg.connect(gateway_db)
    old, live = b"purge-test-old", b"purge-test-live"
    await conn.execute("""INSERT INTO sessions (session_id_hash, member_id, username, csrf_token, expires_at)
                          VALUES ($1, 'm', 'u', '', now() - interval '1 minute'),
                                 ($2, 'm', 'u', '', now() + interval '1 hour')""", old, live)
    assert "purged" in purge()
    assert "purged 0 " in purge()  # a second run changes nothing
    left = await conn.fetch("SELECT session_id_hash FROM sessions WHERE session_id_hash = ANY($1)", [old, live])
    assert [r["session_id_hash"] for r in left] == [live]
    await conn.close()


async def test_history_shows_a_check_and_a_money_order_by_their_numbers(gw_no_captcha, upstream):
    """A check or money order paid by mail or at a counter reads 'Check #1234', not an
    account ending, in both languages; bank accounts keep their ending."""
    gw = gw_no_captcha
    await login(gw, upstream)
    for key, method in (("lockbox-1", {"type": "check", "last4": "1234"}),
                        ("lockbox-2", {"type": "money_order", "last4": "0077"}),
                        ("web-1", {"type": "checking", "last4": "6789"})):
        upstream.payments[key] = ({}, {
            "payment_id": key, "confirmation_number": f"PMT-{key.upper()}", "kind": "one_time",
            "channel": "lockbox" if key.startswith("lockbox") else "member",
            "billing_account_number": fakes.BAN_A, "status": "settled", "amount_cents": 31000,
            "method": method, "submitted_on": "2030-11-30", "expected_withdrawal_date": "2030-11-30"})
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/history?lang=en")).text()
    assert "Check #1234" in page and "Money order #0077" in page
    assert "Checking account ending in 6789" in page and "ending in 1234" not in page
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/history?lang=es")).text()
    assert "Cheque n.º 1234" in page and "Giro postal n.º 0077" in page
    await gw.get(f"/accounts/{fakes.BAN_A}/history?lang=en")


async def test_a_terminated_member_is_told_what_restores_the_coverage_and_can_pay_it(gw_no_captcha, upstream):
    gw = gw_no_captcha
    quote = {"possible": True, "amount_cents": 19_300, "pay_by": "2031-06-05", "noticed_on": "2031-05-01",
             "terminated_on": "2031-03-31", "plan_type": "health", "then_billed_cents": 9_900,
             "restores": [{"coverage_year": 2031, "enrollment_id": "E1", "coverage_start": "2031-01-01",
                           "restored_from": "2031-04-01", "then_billed_months": ["2031-06"],
                           "then_billed_cents": 9_900}]}
    upstream.account_extra = {"status": "terminated", "reinstatement": quote}
    upstream.users["maria.s"] = {"password": "correct horse battery", "member_id": "m-1"}
    csrf = csrf_of(await (await gw.get("/login")).text())
    page = await (await gw.post("/login", data={"username": "maria.s", "password": "correct horse battery",
                                                "csrf_token": csrf})).text()
    assert "Pay $193.00 by June 5, 2031 to restore your coverage." in page
    assert f'href="/accounts/{fakes.BAN_A}/pay">Pay $193.00 now</a>' in page
    # The button starts the usual payment with the total chosen and that total as expected.
    pay = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay")).text()
    assert hidden_of(pay)["expected_amount"] == "193.00"
    es = await (await gw.get("/dashboard?lang=es")).text()
    assert "Pague $193.00 a más tardar el 5 de junio de 2031 para restablecer su cobertura." in es
    assert "Pagar $193.00 ahora" in es
    # After the last day: no amount to pay, whom to call instead.
    upstream.account_extra = {"status": "terminated", "reinstatement": {**quote, "possible": False}}
    page = await (await gw.get("/dashboard?lang=en")).text()
    assert "Pay $193.00 now" not in page and "to restore your coverage" not in page
    assert "so it can no longer be reinstated. Call the Health Connector at" in page


async def test_a_member_sees_the_credit_and_asks_for_it_back_once_per_form(gw_no_captcha, upstream):
    gw = gw_no_captcha
    upstream.account_extra = {"credit_cents": 1_234, "total_balance_cents": -1_234}
    await login(gw, upstream)
    dashboard = await (await gw.get("/dashboard")).text()
    assert re.search(r'Credit: <strong class="portal-credit">\$12\.34</strong>', dashboard)
    assert f'href="/accounts/{fakes.BAN_A}/refund"' in dashboard
    es = await (await gw.get("/dashboard?lang=es")).text()
    assert re.search(r'Crédito: <strong class="portal-credit">\$12\.34</strong>', es)

    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/refund?lang=en")).text()
    assert 'value="12.34"' in page  # the whole credit, unless the member types less
    form = {"refund_amount": "20.00", "csrf_token": csrf_of(page),
            "idempotency_key": hidden_of(page)["idempotency_key"]}
    over = await gw.post(f"/accounts/{fakes.BAN_A}/refund", data=form)
    assert over.status == 409 and "The amount is more than your credit." in await over.text()
    assert upstream.refunds == {}

    form = {**form, "refund_amount": "12.34", "idempotency_key": hidden_of(page)["idempotency_key"]}
    first = await (await gw.post(f"/accounts/{fakes.BAN_A}/refund", data=form)).text()
    again = await (await gw.post(f"/accounts/{fakes.BAN_A}/refund", data=form)).text()  # a double click
    assert "We will send you $12.34. Refund number: RFD-0001." in first
    assert "RFD-0001" in again and len(upstream.refunds) == 1
    assert "On its way" in first
    [(body, _)] = upstream.refunds.values()
    assert body["amount"] == "12.34"

    bad = await gw.post(f"/accounts/{fakes.BAN_A}/refund",
                        data={**form, "refund_amount": "١٢.٣٤", "idempotency_key": "k" * 32})
    assert bad.status == 422 and "Enter an amount in dollars and cents" in await bad.text()


@pytest.mark.parametrize("lang,words", [
    ("en", "We could not send your refund of $12.34 to the card or bank account you paid with. "
           "Nothing was taken from your credit"),
    ("es", "No pudimos enviar su reembolso de $12.34 a la tarjeta o cuenta bancaria con que pagó. "
           "No se tomó nada de su crédito")])
async def test_a_refund_that_could_not_be_sent_says_so(gw_no_captcha, upstream, lang, words):
    gw = gw_no_captcha
    upstream.account_extra = {"credit_cents": 1_234, "total_balance_cents": -1_234}
    upstream.refund_fails = True
    await login(gw, upstream)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/refund?lang={lang}")).text()
    form = {"refund_amount": "12.34", "csrf_token": csrf_of(page),
            "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/refund?lang={lang}", data=form)).text()
    assert words in done and "usa-alert--warning" in done
    assert "We will send you" not in done and "Le enviaremos" not in done
