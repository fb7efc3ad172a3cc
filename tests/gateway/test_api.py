"""GATEWAY-UNIT tests of the public JSON API: the real gateway and its real database, fake
upstream services (tests/gateway/fakes.py). The same flows run end to end against the real
services in tests/browser/."""
from __future__ import annotations

import asyncpg

from services.gateway import schemas as s
from services.gateway.entrypoints import keys
from shared.service_auth import TokenSigner, TokenVerifier
from tests.gateway import fakes
from tests.gateway.conftest import _client

LOOKUP = {"plan_type": "health", "id_type": "ssn", "id_value": fakes.SSN,
          "id_value_confirmation": fakes.SSN, **fakes.MEMBER}
BANK = {"type": "checking", "account_holder_name": "Maria Santos", "account_number": "123456789012",
        "account_number_confirmation": "123456789012", "routing_number": "011000015",
        "routing_number_confirmation": "011000015"}
CONTACT = {"email": "maria@example.org", "email_confirmation": "maria@example.org", "phone": "617-555-0101"}


async def lookup_token(client, **changes) -> dict:
    r = await client.post("/api/v1/lookups", json={**LOOKUP, **changes})
    assert r.status == 201, await r.text()
    return await r.json()


def payment(ban=fakes.BAN_A, **changes) -> dict:
    return {"billing_account_number": ban, "kind": "one_time", "amount": "total", "method": BANK,
            "contact": CONTACT, **changes}


async def test_openapi_document_lists_every_endpoint_with_models(gw):
    r = await gw.get("/api/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/captcha", "/api/v1/lookups", "/api/v1/billing-accounts/{ban}",
                 "/api/v1/billing-accounts/{ban}/payments", "/api/v1/payments",
                 "/api/v1/payments/{payment_id}", "/api/v1/billing-accounts/{ban}/autopay",
                 "/api/v1/members", "/api/v1/sessions", "/api/v1/password-resets", "/api/v1/me",
                 "/api/v1/me/methods/{method_id}"):
        assert path in doc["paths"], path
    assert set(doc["paths"]["/api/v1/billing-accounts/{ban}/autopay"]) == {"post", "delete"}
    lookup = doc["components"]["schemas"]["LookupRequest"]
    assert {"plan_type", "id_type", "id_value", "first_name", "last_name", "date_of_birth"} <= set(lookup["required"])
    docs = await (await gw.get("/api/docs")).text()
    assert "POST /api/v1/payments" in docs and "LookupRequest" in docs
    assert "http://" not in docs.replace("http://127.0.0.1", "") and "https://" not in docs  # no CDN


async def test_lookup_gives_a_token_and_the_lines_in_dollars(gw):
    found = await lookup_token(gw)
    s.LookupResponse.model_validate(found)
    assert found["billing_account_number"] == fakes.BAN_A
    assert found["total_balance"] == "193.00"
    assert [(x["coverage_year"], x["balance"], x["current_premium"]) for x in found["lines"]] == \
        [(2030, "94.00", "94.00"), (2031, "99.00", "99.00")]
    assert found["lookup_token"] and found["expires_at"]


async def test_lookup_errors_are_uniform_and_never_echo_the_ssn(gw):
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "first_name": "Mary"})
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "id_value_confirmation": "123456780"})
    body = await r.json()
    assert r.status == 422 and body["error"]["code"] == "invalid_input"
    assert "id_value_confirmation" in body["error"]["fields"]
    assert "12345678" not in await r.text()
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "id_type": "enrollment_id", "id_value": "3300999999"})
    body = await r.json()
    assert r.status == 409 and body["error"]["code"] == "not_yet_payable"
    assert body["error"]["payable_at"] == "2030-01-01T15:00:00+00:00"
    r = await gw.post("/api/v1/lookups", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_json"
    r = await gw.post("/api/v1/sessions", data=b'{"username": "a", "password": "b"}',
                      headers={"Content-Type": "text/plain"})  # what a cross-site form can send
    assert r.status == 415
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "id_type": "billing_account_number", "id_value": "1234567890"})
    assert (await r.json())["error"]["fields"]["id_value"].startswith("A Billing Account Number")


async def test_a_lookup_token_reads_its_own_account_only(gw):
    token = (await lookup_token(gw))["lookup_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}", headers=auth)
    assert r.status == 200 and (await r.json())["total_balance"] == "193.00"
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_B}", headers=auth)
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}")
    assert r.status == 401
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}", headers={"Authorization": f"Bearer {token[:-2]}xx"})
    assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_token"
    other = (await lookup_token(gw, id_type="billing_account_number", id_value=fakes.BAN_B))["lookup_token"]
    r = await gw.post("/api/v1/payments", json=payment(fakes.BAN_A), headers={
        "Authorization": f"Bearer {other}", "Idempotency-Key": "k-other"})
    assert r.status == 403


async def test_with_billing_down_the_account_page_answers_with_a_notice(gw, upstream):
    token = (await lookup_token(gw))["lookup_token"]
    upstream.down.add("billing")
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}", headers={"Authorization": f"Bearer {token}"})
    body = await r.json()
    assert r.status == 200
    assert body["notices"] == [{"service": "billing", "message": body["notices"][0]["message"]}]
    assert "not available" in body["notices"][0]["message"]
    assert body["total_balance"] == "193.00"  # from payments' projection of what is owed
    assert body["autopay"] is None


async def test_request_id_is_passed_to_the_services(gw, upstream):
    await gw.post("/api/v1/lookups", json=LOOKUP, headers={"X-Request-Id": "req-abc-123"})
    seen = [(svc, headers.get("X-Request-Id")) for svc, _, headers, _ in upstream.seen]
    assert ("identity", "req-abc-123") in seen and ("billing", "req-abc-123") in seen
    assert {headers.get("X-Forwarded-For") for _, _, headers, _ in upstream.seen} == {"127.0.0.1"}


async def test_security_headers_on_api_pages_and_errors(gw):
    for path in ("/api/v1/captcha", "/quick-pay", "/no-such-page", "/api/v1/billing-accounts/7000000001"):
        r = await gw.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "Traceback" not in await r.text()


async def test_captcha_gives_a_picture_and_a_recording(gw):
    r = await gw.get("/api/v1/captcha")
    import base64
    body = await r.json()
    assert base64.b64decode(body["image_png_base64"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert base64.b64decode(body["audio_wav_base64"])[:4] == b"RIFF"
    assert (await gw.get(body["image_url"])).headers["Content-Type"] == "image/png"
    assert (await gw.get(body["audio_url"])).headers["Content-Type"] == "audio/wav"


async def test_a_guest_cannot_skip_the_captcha(gw, gateway_db, upstream):
    token = (await lookup_token(gw))["lookup_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-captcha"}
    r = await gw.post("/api/v1/payments", json=payment(), headers=headers)
    assert r.status == 422 and (await r.json())["error"]["code"] == "captcha_required"
    captcha = await (await gw.get("/api/v1/captcha")).json()
    r = await gw.post("/api/v1/payments", json=payment(captcha={"id": captcha["captcha_id"], "answer": "00000"}),
                      headers=headers)
    assert r.status == 422 and (await r.json())["error"]["code"] == "captcha_invalid"
    assert not upstream.payments
    captcha = await (await gw.get("/api/v1/captcha")).json()
    conn = await asyncpg.connect(gateway_db)
    answer = await conn.fetchval("SELECT answer FROM captcha_challenges WHERE captcha_id = $1", captcha["captcha_id"])
    await conn.close()
    r = await gw.post("/api/v1/payments", json=payment(captcha={"id": captcha["captcha_id"], "answer": answer}),
                      headers=headers)
    assert r.status == 201, await r.text()
    assert "captcha" not in next(iter(upstream.payments.values()))[0]
    # A solved challenge cannot be used twice.
    r = await gw.post("/api/v1/payments", json=payment(captcha={"id": captcha["captcha_id"], "answer": answer}),
                      headers={**headers, "Idempotency-Key": "k-captcha-2"})
    assert r.status == 422


async def test_the_same_idempotency_key_twice_gives_one_payment(gw_no_captcha, upstream):
    gw = gw_no_captcha
    token = (await lookup_token(gw))["lookup_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-same"}
    first = await gw.post("/api/v1/payments", json=payment(), headers=headers)
    again = await gw.post("/api/v1/payments", json=payment(), headers=headers)
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    a, b = await first.json(), await again.json()
    assert a["payment_id"] == b["payment_id"] and a["confirmation_number"] == b["confirmation_number"]
    assert a["amount"] == "193.00" and a["expected_withdrawal_date"] == "2030-12-05"
    assert len(upstream.payments) == 1
    other = await gw.post("/api/v1/payments", json=payment(amount="50.00"), headers=headers)
    assert other.status == 409 and (await other.json())["error"]["code"] == "idempotency_conflict"
    missing = await gw.post("/api/v1/payments", json=payment(), headers={"Authorization": f"Bearer {token}"})
    assert missing.status == 400 and (await missing.json())["error"]["code"] == "idempotency_key_required"
    status = await gw.get(f"/api/v1/payments/{a['payment_id']}", headers={"Authorization": f"Bearer {token}"})
    assert status.status == 200 and (await status.json())["status"] == "submitted"
    s.PaymentView.model_validate(await status.json())
    history = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}/payments",
                           headers={"Authorization": f"Bearer {token}"})
    s.PaymentHistory.model_validate(await history.json())
    assert [p["confirmation_number"] for p in (await history.json())["payments"]] == [a["confirmation_number"]]


async def test_payment_input_errors_name_the_field_and_hide_the_numbers(gw_no_captcha):
    gw = gw_no_captcha
    token = (await lookup_token(gw))["lookup_token"]
    bad = {**BANK, "account_number_confirmation": "123456789013", "routing_number": "011000016",
           "routing_number_confirmation": "011000016"}
    r = await gw.post("/api/v1/payments", json=payment(method=bad, amount="-5"),
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-bad"})
    body = await r.json()
    assert r.status == 422
    assert body["error"]["fields"]["amount"].startswith("Enter an amount")
    r = await gw.post("/api/v1/payments", json=payment(method=bad),
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-bad"})
    assert "method.account_number_confirmation" in (await r.json())["error"]["fields"]
    assert "123456789013" not in await r.text()
    r = await gw.post("/api/v1/payments", json=payment(method={**BANK, "type": "card"}),
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-card"})
    assert r.status == 422


async def test_autopay_create_and_cancel_with_a_lookup_token(gw, upstream):
    token = (await lookup_token(gw))["lookup_token"]
    auth = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-auto"}
    r = await gw.post(f"/api/v1/billing-accounts/{fakes.BAN_A}/autopay", json={"method": BANK, "contact": CONTACT},
                      headers=auth)
    assert r.status == 201 and s.Mandate.model_validate(await r.json()).status == "active"
    r = await gw.post(f"/api/v1/billing-accounts/{fakes.BAN_A}/autopay", json={"method": BANK, "contact": CONTACT},
                      headers=auth)
    assert r.status == 409 and (await r.json())["error"]["code"] == "autopay_exists"
    summary = await (await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}", headers=auth)).json()
    assert summary["autopay"]["next_draft_date"] == "2030-12-22"
    r = await gw.put(f"/api/v1/billing-accounts/{fakes.BAN_A}/autopay/method",
                     json={"method": {**BANK, "account_number": "55554444", "account_number_confirmation": "55554444"}},
                     headers=auth)
    assert r.status == 200 and (await r.json())["method"]["last4"] == "4444"
    r = await gw.delete(f"/api/v1/billing-accounts/{fakes.BAN_A}/autopay", headers=auth)
    assert r.status == 200 and (await r.json())["status"] == "cancelled"
    r = await gw.delete(f"/api/v1/billing-accounts/{fakes.BAN_A}/autopay", headers=auth)
    assert r.status == 404 and (await r.json())["error"]["code"] == "no_autopay"


async def test_registering_waits_for_a_slow_password_hash_instead_of_saying_nobody_answers(gw_no_captcha):
    """The usual upstream timeout (2 s here) is shorter than hashing a password can take on
    a busy machine; a member told "not answering" would find the account made anyway."""
    r = await gw_no_captcha.post("/api/v1/members", json={
        **LOOKUP, "username": fakes.SLOW_HASH_USER, "email": "maria@example.org",
        "password": "correct horse battery"})
    assert r.status == 201, await r.text()


async def test_member_register_login_me_csrf_and_logout(gw_no_captcha):
    gw = gw_no_captcha
    r = await gw.post("/api/v1/members", json={**LOOKUP, "username": "maria.s", "email": "maria@example.org",
                                               "password": "correct horse battery"})
    assert r.status == 201
    r = await gw.post("/api/v1/members", json={**LOOKUP, "username": "maria.s", "email": "maria@example.org",
                                               "password": "correct horse battery"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "username_taken"
    r = await gw.post("/api/v1/sessions", json={"username": "maria.s", "password": "wrong password!"})
    assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_credentials"
    r = await gw.post("/api/v1/sessions", json={"username": "paused-user", "password": "whatever"})
    assert r.status == 429 and (await r.json())["error"]["retry_after_s"] == 120
    r = await gw.post("/api/v1/sessions", json={"username": "maria.s", "password": "correct horse battery"})
    assert r.status == 200
    cookie = r.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("gw_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    csrf = (await r.json())["csrf_token"]
    me = await (await gw.get("/api/v1/me")).json()
    s.Me.model_validate(me)  # the documented shape
    assert me["accounts"][0]["billing_account_number"] == fakes.BAN_A
    assert me["accounts"][0]["total_balance"] == "193.00"
    r = await gw.post("/api/v1/payments", json=payment(), headers={"Idempotency-Key": "k-member"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_failed"
    r = await gw.post("/api/v1/payments", json=payment(), headers={"Idempotency-Key": "k-member", "X-CSRF-Token": csrf})
    assert r.status == 201
    r = await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_B}")
    assert r.status == 403
    assert (await gw.delete("/api/v1/sessions")).status == 204
    assert (await gw.get("/api/v1/me")).status == 401


async def test_password_reset_always_accepted(gw):
    r = await gw.post("/api/v1/password-resets", json={"username": "nobody"})
    assert r.status == 202
    r = await gw.post("/api/v1/password-resets", json={"kind": "username"})
    assert r.status == 422 and "email" in (await r.json())["error"]["fields"]


async def test_a_member_found_before_billing_opened_the_account_hears_not_ready(gw):
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "id_type": "billing_account_number",
                                               "id_value": "7999999993"})
    assert r.status == 404  # identity does not know it either
    # identity knows the enrollment but billing has no account yet
    r = await gw.post("/api/v1/lookups", json={**LOOKUP, "id_type": "enrollment_id", "id_value": "3300100009"})
    body = await r.json()
    assert r.status == 409 and body["error"]["code"] == "account_not_ready"


async def test_a_service_error_becomes_a_plain_503(gw, upstream):
    upstream.down.add("identity")
    r = await gw.post("/api/v1/lookups", json=LOOKUP)
    body = await r.json()
    assert r.status == 503 and body["error"]["code"] == "service_unavailable"
    assert "Traceback" not in await r.text()


async def test_lookups_are_rate_limited(gateway_db, upstream):
    client = await _client(gateway_db, upstream, sensitive_rate_limit_per_minute=2)
    try:
        statuses = [(await client.post("/api/v1/lookups", json=LOOKUP)).status for _ in range(3)]
        assert statuses == [201, 201, 429]
        r = await client.post("/api/v1/lookups", json=LOOKUP)
        assert (await r.json())["error"]["retry_after_s"] > 0
        assert (await client.get("/quick-pay")).status == 200  # other pages still answer
        page = await client.post("/quick-pay", data={})
        assert page.status == 429 and "Too many tries" in await page.text()  # a page, not JSON
    finally:
        await client.close()


async def test_payment_status_is_only_for_the_account_it_paid(gw_no_captcha, upstream):
    gw = gw_no_captcha
    mine = (await lookup_token(gw))["lookup_token"]
    other = (await lookup_token(gw, id_type="billing_account_number", id_value=fakes.BAN_B))["lookup_token"]
    r = await gw.post("/api/v1/payments", json=payment(), headers={"Authorization": f"Bearer {mine}",
                                                                   "Idempotency-Key": "k-status"})
    payment_id = (await r.json())["payment_id"]
    for without_account in (False, True):
        upstream.payment_without_account = without_account
        r = await gw.get(f"/api/v1/payments/{payment_id}", headers={"Authorization": f"Bearer {mine}"})
        assert r.status == 200
        r = await gw.get(f"/api/v1/payments/{payment_id}", headers={"Authorization": f"Bearer {other}"})
        assert r.status == 403


async def test_cards_only_when_the_program_takes_them(gw_no_captcha, upstream):
    gw = gw_no_captcha
    token = (await lookup_token(gw))["lookup_token"]
    card = {"type": "card", "cardholder_name": "Maria Santos", "card_number": "4111 1111 1111 1111",
            "expiry_month": 12, "expiry_year": 2031, "cvv": "123", "postal_code": "02108"}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-card-1"}
    r = await gw.post("/api/v1/payments", json=payment(method=card), headers=headers)
    assert r.status == 422 and "method.type" in (await r.json())["error"]["fields"]
    upstream.cards_enabled = True
    gw.app[keys.DEPS].use_cases._config = None  # the program setting is cached for a minute
    r = await gw.post("/api/v1/payments", json=payment(method=card), headers=headers)
    assert r.status == 201, await r.text()
    sent = upstream.payments["k-card-1"][0]["method"]
    assert sent["card_number"] == "4111111111111111" and sent["type"] == "card"
    r = await gw.post("/api/v1/payments", json=payment(method={**card, "card_number": "4111111111111112"}),
                      headers={**headers, "Idempotency-Key": "k-card-2"})
    assert r.status == 422 and "method.card_number" in (await r.json())["error"]["fields"]
    assert "4111111111111112" not in await r.text()


async def test_every_upstream_call_carries_the_gateways_token_for_that_service(gw, upstream):
    await lookup_token(gw)
    settings = gw.app[keys.SETTINGS]
    calls = [(svc, what, headers) for svc, what, headers, _ in upstream.seen]
    assert {svc for svc, _, _ in calls} >= {"identity", "billing", "payments"}
    for svc, what, headers in calls:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        assert scheme == "Bearer", (svc, what)
        claims = TokenVerifier(svc, settings.service_keys).verify(token)
        assert claims.caller == "gateway" and claims.expires_at - claims.issued_at == 60


async def test_the_gateways_metrics_need_the_scrapers_token(gw):
    r = await gw.get("/metrics")
    assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_service_token"
    service_keys = gw.app[keys.SETTINGS].service_keys
    r = await gw.get("/metrics", headers=TokenSigner.from_keys(service_keys, "gateway").headers("gateway"))
    assert r.status == 403
    r = await gw.get("/metrics", headers=TokenSigner.from_keys(service_keys, "metrics").headers("gateway"))
    assert r.status == 200 and "http_requests_total" in await r.text()
    assert (await gw.get("/healthz")).status == 200 and (await gw.get("/")).status == 200


async def test_the_account_shows_its_credit_and_a_refund_is_asked_for_once_per_key(gw, upstream):
    upstream.account_extra = {"credit_cents": 1_234, "total_balance_cents": -1_234}
    token = (await lookup_token(gw))["lookup_token"]
    auth = {"Authorization": f"Bearer {token}"}
    summary = await (await gw.get(f"/api/v1/billing-accounts/{fakes.BAN_A}", headers=auth)).json()
    assert (summary["credit"], summary["total_balance"]) == ("12.34", "-12.34")
    url = f"/api/v1/billing-accounts/{fakes.BAN_A}/refunds"
    missing = await gw.post(url, json={"amount": "credit"}, headers=auth)
    assert missing.status == 400
    key = {"Idempotency-Key": "refund-key-1", **auth}
    first = await gw.post(url, json={"amount": "credit"}, headers=key)
    again = await gw.post(url, json={"amount": "credit"}, headers=key)
    body = await first.json()
    assert (first.status, body["amount"], body["status"], body["method"]) == (
        201, "12.34", "approved", {"type": "checking", "last4": "6789"})
    assert again.status == 200 and (await again.json())["refund_id"] == body["refund_id"]
    over = await gw.post(url, json={"amount": "0.01"}, headers={**auth, "Idempotency-Key": "refund-key-2"})
    assert over.status == 409 and (await over.json())["error"]["code"] == "refund_over_credit"
    bad = await gw.post(url, json={"amount": "１２.００"}, headers={**auth, "Idempotency-Key": "refund-key-3"})
    assert bad.status == 422
    listed = await (await gw.get(url, headers=auth)).json()
    assert [r["refund_id"] for r in listed["refunds"]] == [body["refund_id"]]


async def test_a_refund_asked_for_before_payments_records_the_credit_waits_for_it(gw, upstream, monkeypatch):
    from services.gateway.service_layer import use_cases
    monkeypatch.setattr(use_cases, "REFUND_CATCH_UP_PAUSES_S", (0.01, 0.01, 0.01))
    upstream.account_extra = {"credit_cents": 1_234, "total_balance_cents": -1_234}
    token = (await lookup_token(gw))["lookup_token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/billing-accounts/{fakes.BAN_A}/refunds"
    # Billing shows the credit; payments' copy catches up two answers later: one refund.
    upstream.refunds_behind = 2
    r = await gw.post(url, json={"amount": "credit"}, headers={**auth, "Idempotency-Key": "refund-late-1"})
    assert r.status == 201 and (await r.json())["amount"] == "12.34"
    assert len(upstream.refunds) == 1
    # Still not caught up after the wait: said so, not "more than your credit"; nothing refunded.
    upstream.refunds.clear()
    upstream.refunds_behind = 100
    r = await gw.post(url, json={"amount": "credit"}, headers={**auth, "Idempotency-Key": "refund-late-2"})
    error = (await r.json())["error"]
    assert r.status == 409 and error["code"] == "credit_not_recorded" and "still being recorded" in error["message"]
    assert upstream.refunds == {}
