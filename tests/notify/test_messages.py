"""Each message a member can get, as it arrives in the mail catcher, in English and
Spanish; channel preferences; the delivery log; no full numbers in any message."""
from __future__ import annotations

import asyncio

import pytest

from services.notify.domain.redaction import find_secrets
from tests.notify.events import Household, event

# template -> (words of the English subject, of the Spanish subject, facts in the text)
EXPECTED = {
    "payment_received": ("We received your payment of $1,234.56", "Recibimos su pago de $1,234.56",
                         {"en": ["Confirmation number: {conf}", "Expected withdrawal date: November 25, 2026",
                                 "checking account ending in 6789",
                                 "Paid by Ryan White program: Boston Health Care"],
                          "es": ["Número de confirmación: {conf}", "Fecha prevista de retiro: 25 de noviembre de 2026",
                                 "cuenta de cheques que termina en 6789",
                                 "Pagado por Programa Ryan White: Boston Health Care"]}),
    "payment_settled": ("has been completed", "se completó",
                        {"en": ["November 27, 2026"], "es": ["27 de noviembre de 2026"]}),
    "check_received": ("We received your check #1234 for $310.00", "Recibimos su cheque n.º 1234 de $310.00",
                       {"en": ["Confirmation number: PMT-CHK{tag}", "Deposited: November 30, 2026"],
                        "es": ["Número de confirmación: PMT-CHK{tag}", "Depositado: 30 de noviembre de 2026"]}),
    "payment_failed": ("did not go through", "no se procesó",
                       {"en": ["What to do next", "insufficient funds"], "es": ["Qué hacer ahora"]}),
    "payment_returned": ("your bank returned your payment", "su banco devolvió su pago",
                         {"en": ["We will try this payment again automatically", "November 30, 2026"],
                          "es": ["Intentaremos este pago de nuevo automáticamente", "30 de noviembre de 2026"]}),
    "refund_issued": ("Refund sent: $12.34", "Reembolso enviado: $12.34",
                      {"en": ["Refund number: RFD-{tag}", "checking account ending in 6789",
                              "Your bank should show it by December 2, 2026"],
                       "es": ["Número de reembolso: RFD-{tag}", "cuenta de cheques que termina en 6789",
                              "a más tardar el 2 de diciembre de 2026"]}),
    "refund_returned": ("sent back our refund of $12.34", "rechazó nuestro reembolso de $12.34",
                        {"en": ["Refund number: RFD-R{tag}", "December 4, 2026", "is credit on your billing account"],
                         "es": ["Número de reembolso: RFD-R{tag}", "4 de diciembre de 2026",
                                "vuelve a ser crédito en su cuenta"]}),
    "refund_failed": ("We could not send your refund of $12.34", "No pudimos enviar su reembolso de $12.34",
                      {"en": ["Refund number: RFD-F{tag}", "December 3, 2026", "is still credit on your billing account"],
                       "es": ["Número de reembolso: RFD-F{tag}", "3 de diciembre de 2026",
                              "siguen siendo crédito en su cuenta"]}),
    "payment_retry": ("We will try your payment of $1,234.56 again on December 2, 2026",
                      "Intentaremos de nuevo su pago de $1,234.56 el 2 de diciembre de 2026",
                      {"en": ["This is not a new payment", "Retry withdrawal date: December 2, 2026"],
                       "es": ["No es un pago nuevo", "Fecha del nuevo intento de retiro: 2 de diciembre de 2026"]}),
    "autopay_created": ("Automatic payments are set up", "Sus pagos automáticos están activados",
                        {"en": ["First withdrawal: December 22, 2026", "Confirmation number: AUT-{tag}",
                                "on the 22nd of every month", "The authorization you agreed to:",
                                "I authorize the debit for billing account ending in {last4}."],
                         "es": ["Primer retiro: 22 de diciembre de 2026", "Número de confirmación: AUT-{tag}",
                                "el día 22 de cada mes", "La autorización que usted aceptó:",
                                "Autorizo el débito para la cuenta de facturación que termina en {last4}."]}),
    "autopay_method_changed": ("automatic payments now use your savings account ending in 4321",
                               "pagos automáticos ahora usan su cuenta de ahorros que termina en 4321",
                               {"en": ["New account: savings account ending in 4321",
                                       "Next withdrawal: December 22, 2026"],
                                "es": ["Cuenta nueva: cuenta de ahorros que termina en 4321",
                                       "Próximo retiro: 22 de diciembre de 2026"]}),
    "autopay_cancelled": ("Automatic payments are cancelled", "Sus pagos automáticos se cancelaron",
                          {"en": ["by the 23rd", "A payment of $310.00 already sent to your bank will "
                                  "still be withdrawn on or about December 24, 2026"],
                           "es": ["antes del día 23", "Un pago de $310.00 ya enviado a su banco se "
                                  "retirará de todos modos alrededor del 24 de diciembre de 2026"]}),
    "autopay_upcoming": ("Your automatic payment on December 22, 2026 will be $452.10",
                         "Su pago automático del 22 de diciembre de 2026 será de $452.10",
                         {"en": ["Amount: $452.10", "Cancel by December 17, 2026",
                                 "to stop the December 22, 2026 withdrawal"],
                          "es": ["Monto: $452.10", "Cancele a más tardar el 17 de diciembre de 2026",
                                 "para detener el retiro del 22 de diciembre de 2026"]}),
    "account_micro_entries": ("Confirm two small deposits to verify your checking account ending in 6789",
                              "Confirme dos depósitos pequeños para verificar su cuenta de cheques",
                              {"en": ["They should arrive by December 3, 2026", "You have 3 tries"],
                               "es": ["a más tardar el 3 de diciembre de 2026", "Tiene 3 intentos"]}),
    "account_validation_failed": ("we could not verify your checking account ending in 6789",
                                  "no pudimos verificar su cuenta de cheques que termina en 6789",
                                  {"en": ["December 3, 2026", "cannot receive payments from us (R03)",
                                          "with another bank account"],
                                   "es": ["3 de diciembre de 2026", "(R03)", "con otra cuenta bancaria"]}),
    "bill_ready": ("January 2027 premium bill is ready", "Su factura de enero de 2027 está lista",
                   {"en": ["Due date: December 23, 2026", "Total balance owed: $1,234.56", "$250.00"],
                    "es": ["Fecha de vencimiento: 23 de diciembre de 2026", "Saldo total adeudado: $1,234.56"]}),
    "grace_started": ("grace period until April 30, 2027", "período de gracia hasta el 30 de abril de 2027",
                      {"en": ["$500.00", "3 months"], "es": ["$500.00", "3 meses"]}),
    "grace_notice": ("Second notice", "Segundo aviso", {"en": ["month 2"], "es": ["mes 2"]}),
    "grace_ended": ("Your grace period has ended", "Su período de gracia terminó",
                    {"en": ["$500.00 still unpaid"], "es": ["$500.00 sin pagar"]}),
    "coverage_effectuated": ("coverage starts January 1, 2027", "comienza el 1 de enero de 2027",
                             {"en": ["Welcome"], "es": ["Bienvenido"]}),
    "coverage_terminated": ("coverage has ended", "plan de salud terminó",
                            {"en": ["April 30, 2027", "grace period",
                                    "To restore this coverage, pay $624.94 by June 5, 2027"],
                             "es": ["30 de abril de 2027", "Para restablecer esta cobertura, pague $624.94 "
                                    "a más tardar el 5 de junio de 2027"]}),
    "password_reset": ("Reset your Health Connector password", "Restablezca su contraseña",
                       {"en": ["https://portal.example.org/reset?token=tok{tag}", "November 23, 2026 at 3:05 PM ET"],
                        "es": ["https://portal.example.org/reset?token=tok{tag}", "23 de noviembre de 2026 a las 3:05 p. m. ET"]}),
    "username_reminder": ("Your Health Connector username", "Su nombre de usuario",
                          {"en": ["user{tag}"], "es": ["user{tag}"]}),
    "login_throttled": ("Log-ins to your Health Connector account are paused", "están en pausa",
                        {"en": ["November 23, 2026 at 3:35 PM ET", "not locked"], "es": ["23 de noviembre de 2026 a las 3:35 p. m. ET", "no está bloqueada"]}),
    "password_changed": ("password was changed", "Se cambió su contraseña",
                         {"en": ["November 23, 2026 at 3:05 PM ET", "every other session"],
                          "es": ["23 de noviembre de 2026 a las 3:05 p. m. ET", "todas las demás sesiones"]}),
    "email_changed": ("email address of your Health Connector account was changed",
                      "Se cambió el correo electrónico", {"en": ["new{tag}@example.org"], "es": ["new{tag}@example.org"]}),
    "already_registered": ("You already have a Health Connector account", "Ya tiene una cuenta",
                           {"en": ["user{tag}"], "es": ["user{tag}"]}),
}


async def setup_household(env, language: str) -> Household:
    h = Household(language=language)
    await env.publish(h.enrollment(), h.account_opened())
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM accounts WHERE billing_account_number = $1", h.ban), what="account")
    return h


@pytest.mark.parametrize("language", ["en", "es"])
async def test_every_message_arrives_with_its_content_in_the_members_language(notify_env, language):
    env = notify_env
    h = await setup_household(env, language)
    conf = f"PC-X{h.tag.upper()}"
    await env.publish(*h.all_message_events(conf))
    emails = await env.wait_for_emails(h.email, len(EXPECTED))
    await asyncio.sleep(0.5)
    assert len(env.mail.to(h.email)) == len(EXPECTED)  # one each, nothing more
    for template, (en_subject, es_subject, facts) in EXPECTED.items():
        subject_words = en_subject if language == "en" else es_subject
        found = [m for m in emails if subject_words.lower() in m["subject"].lower()]
        assert found, f"{template}: no email with {subject_words!r}; got {[m['subject'] for m in emails]}"
        message = found[0]
        for fact in facts[language]:
            fact = fact.format(conf=conf, tag=h.tag, last4=h.ban[-4:])
            assert fact in message["text"], f"{template}: {fact!r} not in\n{message['text']}"
        assert message["html"].startswith("<!DOCTYPE html>") and f'lang="{language}"' in message["html"]
        if template not in ("password_reset", "username_reminder", "login_throttled", "password_changed",
                            "email_changed", "already_registered"):
            assert h.first_name in message["text"]
            assert h.ban not in message["text"] and h.ban not in message["html"]
    # An address change is told to the new address too.
    [to_new] = await env.wait_for_emails(h.new_email, 1)
    assert h.new_email in to_new["text"]
    receipt = next(m for m in emails if conf in m["subject"])
    assert conf in receipt["html"] and "$1,234.56" in receipt["html"]
    # The program that paid gets its own receipt at the address it gave, in the payment's
    # language: the accounts by their last four digits, the member not named.
    [to_payer] = await env.wait_for_emails(h.payer_email, 1)
    words = ("Receipt for the premium you paid on behalf of a member" if language == "en"
             else "Recibo de la prima que pagó en nombre de un miembro")
    assert words in to_payer["subject"] and conf in to_payer["subject"]
    ending = "que termina en" if language == "es" else "ending in"
    greeting = "Hola, Boston Health Care:" if language == "es" else "Hello Boston Health Care,"
    assert greeting in to_payer["text"] and f"{ending} 6789" in to_payer["text"]
    assert f"{ending} {h.ban[-4:]}" in to_payer["text"]
    for part in (to_payer["subject"], to_payer["text"], to_payer["html"]):
        assert h.ban not in part and h.first_name not in part and "123456789" not in part


async def test_a_redelivered_event_is_sent_once(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    submitted = h.payment_submitted("PC-ONCE" + h.tag)
    await env.publish(submitted, submitted, submitted)
    await env.wait_for_emails(h.email, 1)
    # Even if the consumer's own record were lost, the notification's key holds.
    await env.pool.execute("DELETE FROM processed_events WHERE event_id = $1", submitted.event_id)
    await env.publish(submitted)
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM processed_events WHERE event_id = $1", submitted.event_id), what="reprocessed")
    await asyncio.sleep(1.0)
    assert len(env.mail.to(h.email)) == 1
    assert await env.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE source_event_id = $1", submitted.event_id) == 1


async def test_a_member_who_turned_email_off_gets_only_texts(notify_env):
    env = notify_env
    h = await setup_household(env, "es")
    await env.publish(h.member_registered(), h.contact_changed(email_enabled=False, sms_enabled=True))
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM members WHERE member_id = $1 AND NOT email_enabled", h.member_id),
        what="preferences")
    conf = "PC-SMS" + h.tag
    await env.publish(h.payment_submitted(conf, channel="member"))
    number = "+1" + h.phone
    texts = await env.wait_for(lambda: env.sms_store.to(number), what="a text")
    assert conf in texts[0]["body"] and "recibimos su pago de $1,234.56" in texts[0]["body"]
    await asyncio.sleep(1.0)
    assert env.mail.to(h.email) == []
    log = await env.client.get("/notifications", params={"billing_account_number": h.ban})
    entries = (await log.json())["notifications"]
    assert [(e["channel"], e["status"]) for e in entries] == [("sms", "sent")]
    assert entries[0]["recipient_masked"] == "***-***-" + h.phone[-4:]


async def test_texts_on_and_email_on_send_both(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    await env.publish(h.member_registered(), h.contact_changed(email_enabled=True, sms_enabled=True))
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM members WHERE member_id = $1 AND sms_enabled", h.member_id), what="prefs")
    await env.publish(event("invoice.issued", h.ban, {
        "billing_account_number": h.ban, "invoice_id": "INV-2", "kind": "binder",
        "coverage_year": 2027, "coverage_month": "2027-01", "amount_cents": 25000,
        "due_date": "2026-12-23", "total_balance_cents": 25000}))
    emails = await env.wait_for_emails(h.email, 1)
    texts = await env.wait_for(lambda: env.sms_store.to("+1" + h.phone), what="a text")
    assert "first payment" in emails[0]["text"]
    assert "$250.00 due December 23, 2026" in texts[0]["body"]


async def test_no_full_ssn_account_or_card_number_in_any_message(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    # A producer's bug puts full numbers in a free-text reason: the final check masks them.
    leak = "card 4111111111111111, account 000123456789, ssn 123-45-6789"
    await env.publish(event("payment.failed", h.ban, {
        "payment_id": "p1", "confirmation_number": "PC-LEAK" + h.tag, "billing_account_number": h.ban,
        "amount_cents": 1000, "method": {"type": "card", "last4": "1111", "brand": "Visa"},
        "reason_code": "declined", "reason": leak, "contact": h.contact}))
    message = (await env.wait_for_emails(h.email, 1))[0]
    for part in (message["subject"], message["text"], message["html"]):
        assert "4111111111111111" not in part and "000123456789" not in part
        assert "123-45-6789" not in part and "123456789" not in part
    assert "****1111" in message["text"] and "****6789" in message["text"]
    assert "PC-LEAK" + h.tag in message["text"]  # the confirmation number is kept
    # And nothing any test of this module received carries a full number.
    for m in env.mail.to(None):
        for part in (m["subject"], m["text"], m["html"]):
            assert find_secrets(part, ("1-877-623-6765",)) == [], (m["subject"], find_secrets(part))
    for text in env.sms_store.to(None):
        assert find_secrets(text["body"], ("1-877-623-6765",)) == []


async def test_delivery_log_and_notification_sent_events(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    submitted = h.payment_submitted("PC-LOG" + h.tag)
    await env.publish(submitted)
    await env.wait_for_emails(h.email, 1)
    entries = await env.wait_for(lambda: _log(env, h.ban), what="log entry sent")
    entry = entries[0]
    assert entry["template"] == "payment_received" and entry["channel"] == "email"
    assert entry["recipient_masked"] == "m***@example.org" and entry["attempts"] == 1
    one = await (await env.client.get(f"/notifications/{entry['notification_id']}")).json()
    assert one["subject"].startswith("We received your payment of $1,234.56")
    missing = await env.client.get("/notifications/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404
    sent = await env.wait_for(lambda: _sent_for(env, submitted.event_id), what="notification.sent")
    assert sent.key == h.ban and sent.causation_id == str(submitted.event_id)
    assert sent.data["recipient_masked"] == "m***@example.org" and sent.data["language"] == "en"


async def _log(env, ban):
    r = await env.client.get("/notifications", params={"billing_account_number": ban})
    entries = (await r.json())["notifications"]
    return entries if entries and entries[0]["status"] == "sent" else None


async def _sent_for(env, event_id):
    for e in await env.outbox_events("notification.sent"):
        if e.data["source_event_id"] == str(event_id):
            return e
    return None


async def test_a_text_that_keeps_failing_ends_in_notification_failed(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    await env.publish(h.member_registered(),
                      h.contact_changed(email_enabled=False, sms_enabled=True, phone="+15005550002"))
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM members WHERE member_id = $1 AND sms_enabled", h.member_id), what="prefs")
    h.contact = {**h.contact, "phone": "+15005550002"}  # the payer's number: the provider is down
    submitted = h.payment_submitted("PC-FAIL" + h.tag, channel="member")
    await env.publish(submitted)
    try:
        failed = await env.wait_for(lambda: _failed_for(env, submitted.event_id), timeout_s=30,
                                    what="notification.failed")
    except AssertionError:
        print(await env.pool.fetch("SELECT channel, recipient, status, attempts, last_error, next_attempt_at, now() FROM notifications WHERE source_event_id = $1", submitted.event_id))
        raise
    assert failed.data["attempts"] == env.settings.send_attempts_max
    assert failed.data["channel"] == "sms" and "503" in failed.data["error"]
    row = await env.pool.fetchrow("SELECT status, attempts FROM notifications WHERE source_event_id = $1",
                                  submitted.event_id)
    assert (row["status"], row["attempts"]) == ("failed", env.settings.send_attempts_max)


async def _failed_for(env, event_id):
    for e in await env.outbox_events("notification.failed"):
        if e.data["source_event_id"] == str(event_id):
            return e
    return None
