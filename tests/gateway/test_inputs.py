"""GATEWAY-UNIT tests of the input boundary (the real gateway and its database, fake
upstreams): every typed number is ASCII digits, path ids are checked and quoted, login's
`next=` stays on the site, and the contract's edges (405 Allow, 415, Server header)."""
from __future__ import annotations

import uuid

import pytest

from services.gateway.entrypoints.member_auth import same_site_path
from tests.gateway import fakes
from tests.gateway.test_api import BANK, CONTACT, LOOKUP, lookup_token, payment
from tests.gateway.test_portal import csrf_of

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _payments_seen(upstream) -> list:
    return [s for s in upstream.seen if s[0] == "payments" and s[1].startswith("POST")]


@pytest.mark.parametrize("script", [ARABIC, FULLWIDTH], ids=["arabic-indic", "fullwidth"])
@pytest.mark.parametrize("field,body", [
    ("method.routing_number", lambda t: payment(method={**BANK, "routing_number": "011000015".translate(t),
                                                        "routing_number_confirmation": "011000015".translate(t)})),
    ("method.account_number", lambda t: payment(method={**BANK, "account_number": "123456789012".translate(t),
                                                        "account_number_confirmation": "123456789012".translate(t)})),
    ("method.card_number", lambda t: payment(method={"type": "card", "cardholder_name": "Maria Santos",
                                                     "card_number": "4111111111111111".translate(t),
                                                     "expiry_month": 12, "expiry_year": 2031, "cvv": "123",
                                                     "postal_code": "02108"})),
    ("method.cvv", lambda t: payment(method={"type": "card", "cardholder_name": "Maria Santos",
                                             "card_number": "4111111111111111", "expiry_month": 12,
                                             "expiry_year": 2031, "cvv": "123".translate(t),
                                             "postal_code": "02108"})),
    ("method.postal_code", lambda t: payment(method={"type": "card", "cardholder_name": "Maria Santos",
                                                     "card_number": "4111111111111111", "expiry_month": 12,
                                                     "expiry_year": 2031, "cvv": "123",
                                                     "postal_code": "02108".translate(t)})),
    ("contact.phone", lambda t: payment(contact={**CONTACT, "phone": "6175550101".translate(t)})),
    ("amount", lambda t: payment(amount="12.34".translate(t))),
    ("billing_account_number", lambda t: payment(ban=fakes.BAN_A.translate(t))),
])
async def test_a_payment_with_foreign_digits_is_refused_and_never_sent(gw_no_captcha, upstream, script,
                                                                        field, body):
    token = (await lookup_token(gw_no_captcha))["lookup_token"]
    r = await gw_no_captcha.post("/api/v1/payments", json=body(script),
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
    answer = await r.json()
    assert r.status == 422 and answer["error"]["code"] == "invalid_input", answer
    assert field in answer["error"]["fields"], answer
    assert _payments_seen(upstream) == []  # nothing reached payments, so nothing is stored


@pytest.mark.parametrize("changes", [
    {"id_type": "ssn", "id_value": fakes.SSN.translate(ARABIC), "id_value_confirmation": fakes.SSN.translate(ARABIC)},
    {"id_type": "billing_account_number", "id_value": fakes.BAN_A.translate(FULLWIDTH)},
    {"id_type": "billing_account_number", "id_value": fakes.BAN_A[:-1] + "0"},  # check digit wrong
    {"id_type": "enrollment_id", "id_value": "3300100001".translate(ARABIC)},
    {"date_of_birth": "1984-03-15".translate(ARABIC)},
], ids=["ssn", "ban", "ban-check-digit", "enrollment-id", "date-of-birth"])
async def test_a_lookup_with_foreign_digits_is_refused(gw_no_captcha, upstream, changes):
    r = await gw_no_captcha.post("/api/v1/lookups", json={**LOOKUP, **changes})
    answer = await r.json()
    assert r.status == 422 and answer["error"]["code"] == "invalid_input", answer
    assert not [s for s in upstream.seen if s[0] == "identity" and "lookups" in s[1]]


@pytest.mark.parametrize("url", [
    f"/api/v1/payments/..%2Faccounts%2F{fakes.BAN_A}%2Fowed",
    f"/api/v1/payments/..%2Faccounts%2F{fakes.BAN_A}%2Fautopay",
    "/api/v1/payments/..%2Fmetrics",
    "/api/v1/payments/not-a-uuid",
    "/api/v1/billing-accounts/..%2F..%2Fmetrics",
    f"/api/v1/billing-accounts/{fakes.BAN_A[:-1]}0",
    f"/api/v1/billing-accounts/{fakes.BAN_A.translate(ARABIC)}/payments",
])
async def test_a_malformed_path_id_answers_the_404_of_an_unknown_one(gw_no_captcha, upstream, url):
    token = (await lookup_token(gw_no_captcha))["lookup_token"]
    upstream.seen.clear()
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        r = await gw_no_captcha.get(url, headers=headers)
        assert r.status == 404, (url, await r.text())
        assert (await r.json())["error"]["code"] == "not_found"
    assert upstream.seen == []  # nothing was asked of any service


@pytest.mark.parametrize("target", ["/\\evil.example/", "/\t/evil.example/", "/%09/evil.example/",
                                    "//evil.example/", "https://evil.example/", "javascript:alert(1)",
                                    "/%5Cevil.example/", "/%2F%2Fevil.example/", "/\r\nLocation: x",
                                    "evil.example", "/\x00/evil.example"])
def test_login_next_refuses_everything_off_site(target):
    assert same_site_path(target) is None


async def test_login_redirects_only_to_same_site_paths(gw_no_captcha, upstream):
    gw = gw_no_captcha
    upstream.users["maria.s"] = {"password": "correct horse battery", "member_id": "m-1"}
    for target, expected in (("/\\evil.example/", "/dashboard"), ("/\t/evil.example/", "/dashboard"),
                             ("//evil.example", "/dashboard"), (f"/accounts/{fakes.BAN_A}/history",
                                                                f"/accounts/{fakes.BAN_A}/history")):
        csrf = csrf_of(await (await gw.get("/login")).text())
        r = await gw.post("/login", data={"username": "maria.s", "password": "correct horse battery",
                                          "csrf_token": csrf, "next": target}, allow_redirects=False)
        assert r.status in (302, 303) and r.headers["Location"] == expected, (target, r.headers.get("Location"))


async def test_405_says_allow_415_for_other_types_and_no_server_software(gw):
    r = await gw.put("/api/v1/payments", json={})
    assert r.status == 405 and "POST" in r.headers["Allow"]
    assert (await r.json())["error"]["code"] == "method_not_allowed"
    r = await gw.post("/api/v1/lookups", data="plan_type=health", headers={"Content-Type": "text/plain"})
    assert r.status == 415 and (await r.json())["error"]["code"] == "unsupported_media_type"
    for path in ("/api/openapi.json", "/healthz", "/nowhere", "/login"):
        server = (await gw.get(path)).headers.get("Server", "")
        assert "python" not in server.lower() and "aiohttp" not in server.lower(), (path, server)


async def test_openapi_documents_the_edges_and_the_shapes(gw):
    doc = await (await gw.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/v1/payments"]["post"]
    for status in ("400", "405", "413", "415", "422"):
        assert status in post["responses"], status
    assert "Allow" in post["responses"]["405"]["headers"]
    assert "idempotency_key_required" in post["responses"]["400"]["description"]
    [ban] = [p for p in doc["paths"]["/api/v1/billing-accounts/{ban}"]["get"]["parameters"] if p["name"] == "ban"]
    assert ban["schema"]["pattern"] == "^7[0-9]{9}$"
    bank = doc["components"]["schemas"]["BankMethod"]["properties"]
    assert bank["routing_number"]["pattern"] == "^[0-9][0-9 -]*$" and bank["routing_number"]["maxLength"] == 12
    assert "\\d" not in str(doc)  # every published pattern is ASCII digits


def test_upstream_refusals_read_in_the_pages_language():
    """What payments refuses after the page's own checks passed (the balance changed in
    between, an autopay already there) is shown in the catalog's English or Spanish."""
    from services.gateway.entrypoints.forms import api_errors
    from services.gateway.translations import translate
    from shared.http import ApiError

    over = ApiError(422, "invalid_input", "Invalid.", {"amount": "The amount is more than this "
                                                                 "account allows: at most 1234.50."})
    assert api_errors(over, "es") == {"other_amount": translate("es", "err.amount_over_limit", limit="$1,234.50")}
    nothing = ApiError(422, "invalid_input", "Invalid.", {"amount": "There is nothing to pay on this account right now."})
    assert api_errors(nothing, "es") == {"other_amount": "err.nothing_to_pay"}
    exists = ApiError(409, "autopay_exists", "This account already has a recurring payment.")
    assert api_errors(exists, "es") == {"_form": "api.autopay_exists"}
    assert translate("es", "api.autopay_exists").startswith("Esta cuenta ya tiene pagos automáticos")
    odd = ApiError(409, "something_new", "Words only the service has.")
    assert api_errors(odd, "en") == {"_form": "Words only the service has."}
    assert api_errors(odd, "es") == {"_form": "error.generic"}
