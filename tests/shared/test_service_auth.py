"""Service tokens and the permission table (shared/service_auth.py), without a network."""
from __future__ import annotations

import base64

import orjson
import pytest

from shared.service_auth import PERMISSIONS, InvalidToken, TokenSigner, TokenVerifier, generate_keys, may
from shared.settings import ServiceSettings

KEYS = {"gateway": {"k2": "new-gateway-secret", "k1": "old-gateway-secret"},
        "metrics": {"k1": "metrics-secret"}}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    return str(refused.value)


def test_a_token_names_its_caller_and_is_good_only_for_its_audience_and_minute():
    clock = Clock()
    token = TokenSigner("gateway", KEYS["gateway"], clock=clock).mint("identity")
    identity = TokenVerifier("identity", KEYS, clock=clock)
    claims = identity.verify(token)
    assert (claims.caller, claims.audience, claims.key_id) == ("gateway", "identity", "k2")
    assert claims.expires_at - claims.issued_at == 60
    assert reason(TokenVerifier("billing", KEYS, clock=clock), token) == "audience"
    clock.now += 66  # a minute and the allowed clock difference later
    assert reason(identity, token) == "expired"


def test_a_forged_or_altered_token_is_refused():
    clock = Clock()
    verifier = TokenVerifier("identity", KEYS, clock=clock)
    token = TokenSigner("gateway", KEYS["gateway"], clock=clock).mint("identity")
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    for forged in ({**claims, "iss": "metrics"}, {**claims, "exp": claims["exp"] + 3600}):
        altered = base64.urlsafe_b64encode(orjson.dumps(forged)).rstrip(b"=").decode()
        assert reason(verifier, f"{header}.{altered}.{signature}") == "signature"
    # Signed with a key nobody listed, or by a caller nobody knows.
    assert reason(verifier, TokenSigner("gateway", {"k2": "guessed"}, clock=clock).mint("identity")) == "signature"
    assert reason(verifier, TokenSigner("stranger", {"k1": "x"}, clock=clock).mint("identity")) == "signature"
    none = base64.urlsafe_b64encode(orjson.dumps({"alg": "none", "kid": "k2"})).rstrip(b"=").decode()
    assert reason(verifier, f"{none}.{payload}.") == "algorithm"
    for junk in ("", "a.b", "a.b.c", "é.é.é", token + "x"):
        with pytest.raises(InvalidToken):
            verifier.verify(junk)


def test_a_token_made_to_live_long_is_refused():
    clock = Clock()
    long_lived = TokenSigner("gateway", KEYS["gateway"], ttl_s=300, clock=clock)
    long_lived.ttl_s = 3600  # as a forger with the key might
    assert reason(TokenVerifier("identity", KEYS, clock=clock), long_lived.mint("identity")) == "lifetime"


def test_rotation_both_listed_keys_verify_the_first_signs():
    clock = Clock()
    verifier = TokenVerifier("billing", KEYS, clock=clock)
    old = TokenSigner("gateway", {"k1": KEYS["gateway"]["k1"]}, clock=clock).mint("billing")
    assert verifier.verify(old).key_id == "k1"
    assert TokenSigner.from_keys(KEYS, "gateway").key_id == "k2"
    dropped = TokenVerifier("billing", {"gateway": {"k2": KEYS["gateway"]["k2"]}}, clock=clock)
    assert reason(dropped, old) == "signature"


def test_a_signer_reuses_its_token_until_near_expiry():
    clock = Clock()
    signer = TokenSigner("gateway", KEYS["gateway"], clock=clock)
    first = signer.token("payments")
    clock.now += 40
    assert signer.token("payments") == first
    assert signer.token("billing") != first
    clock.now += 10  # less than 15 s left: a new one
    assert signer.token("payments") != first


def test_the_permission_table():
    assert may("gateway", "identity", "POST", "/lookups")
    assert may("gateway", "payments", "DELETE", "/accounts/{ban}/autopay")
    assert may("gateway", "billing", "HEAD", "/accounts/{ban}")
    assert not may("gateway", "billing", "GET", "/accounts")          # households: the launcher's
    # Members ask for hardship plans, see a set-up's terms and ask for the 4-hour reminder.
    assert may("gateway", "billing", "POST", "/accounts/{ban}/payment-plan")
    assert may("gateway", "payments", "GET", "/accounts/{ban}/autopay/terms")
    assert may("gateway", "notify", "POST", "/payable-reminders")
    assert not may("gateway", "payments", "POST", "/accounts/{ban}/autopay/terms")
    assert not may("gateway", "identity", "GET", "/metrics")
    assert all(may("metrics", s, "GET", "/metrics") for s in ("gateway", "identity", "billing",
                                                              "payments", "notify"))
    assert not may("metrics", "identity", "POST", "/lookups")
    assert not may("metrics", "billing", "GET", "/asyncapi.json")
    assert may("operator", "billing", "GET", "/accounts")
    assert not may("stranger", "identity", "POST", "/lookups")
    assert set(generate_keys()) == set(PERMISSIONS)


def test_production_refuses_placeholder_or_short_service_keys():
    with pytest.raises(ValueError, match="development placeholder"):
        ServiceSettings(app_env="production")
    real = {"dead_letter_keys": {"k1": "a real dead-letter key"}}
    with pytest.raises(ValueError, match="shorter than"):
        ServiceSettings(app_env="production", service_keys={"gateway": {"k1": "short"}}, **real)
    with pytest.raises(ValueError, match="at least one key"):
        ServiceSettings(service_keys={"gateway": {}})
    keys = generate_keys()
    assert ServiceSettings(app_env="production", service_keys=keys, **real).service_keys == keys
