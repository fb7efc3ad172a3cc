"""Bad input to POST /lookups and POST /members: a clear 422 naming the field, and nothing
stored (no member, no account, no throttle count, no event)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

STATE_TABLES = ("members", "enrollments", "billing_accounts", "accounts", "password_resets",
                "throttle_counters")


def base(**overrides) -> dict:
    body = {"plan_type": "health", "id_type": "enrollment_id", "id_value": "3312345678",
            "first_name": "Maria", "last_name": "Santos", "date_of_birth": "1984-03-15",
            "client_ip": "203.0.113.9"}
    body.update(overrides)
    return body


def ssn(**overrides) -> dict:
    return base(**{"id_type": "ssn", "id_value": "123456789", "id_value_confirmation": "123456789",
                   **overrides})


def ban(value: str) -> dict:
    return base(id_type="billing_account_number", id_value=value)


TOMORROW = (date.today() + timedelta(days=2)).isoformat()

CASES = [
    ("ssn copies differ", ssn(id_value_confirmation="123456780"), "id_value_confirmation", "do not match"),
    ("ssn too short", ssn(id_value="12345678", id_value_confirmation="12345678"), "id_value", "9 digits"),
    ("ssn with letters", ssn(id_value="12345678a", id_value_confirmation="12345678a"), "id_value", "9 digits"),
    ("ssn without confirmation", ssn(id_value_confirmation=None), "id_value_confirmation", "required"),
    ("ban not starting with 7", ban("6123456789"), "id_value", "begins with the number 7"),
    ("ban too short", ban("712345678"), "id_value", "10 digits"),
    ("ban with letters", ban("71234567x9"), "id_value", "10 digits"),
    ("first name of 1,000 characters", base(first_name="a" * 1000), "first_name", "at most 100"),
    ("last name of 101 characters", base(last_name="b" * 101), "last_name", "at most 100"),
    ("control character in a name", base(first_name="Ma\x00ria"), "first_name", "control characters"),
    ("newline in a name", base(last_name="Santos\nAdmin"), "last_name", "control characters"),
    ("sql fragment in a name", base(last_name="x'); DROP TABLE members;--"), "last_name", "only letters"),
    ("sql fragment in an enrollment id", base(id_value="1' OR '1'='1"), "id_value", "letters, digits"),
    ("impossible date", base(date_of_birth="1899-13-40"), "date_of_birth", "not a real calendar date"),
    ("february 30", base(date_of_birth="1990-02-30"), "date_of_birth", "not a real calendar date"),
    ("future date", base(date_of_birth=TOMORROW), "date_of_birth", "future"),
    ("too long ago", base(date_of_birth="1899-12-31"), "date_of_birth", "1900"),
    ("date in another format", base(date_of_birth="03/15/1984"), "date_of_birth", "YYYY-MM-DD"),
    ("unknown plan type", base(plan_type="vision"), "plan_type", "one of"),
    ("unknown id type", base(id_type="passport"), "id_type", "one of"),
    ("missing last name", {k: v for k, v in base().items() if k != "last_name"}, "last_name", "required"),
    ("missing date of birth", {k: v for k, v in base().items() if k != "date_of_birth"}, "date_of_birth", "required"),
    ("blank first name", base(first_name="   "), "first_name", "required"),
    ("name that is a number", base(first_name=12345), "first_name", "text"),
    ("missing client address", {k: v for k, v in base().items() if k != "client_ip"}, "client_ip", "required"),
]


async def nothing_stored(env) -> None:
    for table in STATE_TABLES:
        assert await env.pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    # No test of this module stores anything: no event either, on identity's topic.
    assert await env.outbox() == []


@pytest.mark.parametrize("case,body,field,message", CASES, ids=[c[0] for c in CASES])
async def test_bad_lookup_input_is_a_422_on_its_field_and_stores_nothing(env, case, body, field, message):
    resp = await env.client.post("/lookups", json=body)
    assert resp.status == 422, case
    err = (await resp.json())["error"]
    assert err["code"] == "invalid_input"
    assert message in err["fields"][field], err["fields"]
    for value in ("123456789", "123456780"):
        assert value not in await resp.text()  # an SSN typed is never echoed
    await nothing_stored(env)


@pytest.mark.parametrize("raw", [b"not json", b"{\"plan_type\": ", b"", b"\xff\xfe"])
async def test_a_body_that_is_not_json_is_a_422(env, raw):
    resp = await env.client.post("/lookups", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "invalid_json"
    await nothing_stored(env)


@pytest.mark.parametrize("body", [[], "text", 42, True])
async def test_json_that_is_not_an_object_is_a_422(env, body):
    resp = await env.client.post("/lookups", json=body)
    assert resp.status == 422
    assert (await resp.json())["error"]["fields"] == {"body": "must be a JSON object"}


async def test_every_problem_is_named_at_once(env):
    resp = await env.client.post("/lookups", json=ssn(id_value_confirmation="999999999",
                                                      first_name="x" * 1000, date_of_birth="1899-13-40"))
    fields = (await resp.json())["error"]["fields"]
    assert set(fields) == {"id_value_confirmation", "first_name", "date_of_birth"}


@pytest.mark.parametrize("overrides,field,message", [
    ({"password": "short"}, "password", "at least 12"),
    ({"password": "password1234"}, "password", "too common"),
    ({"password": "iloveyou2024!"}, "password", "too common"),
    ({"password": "passwordpassword"}, "password", "too common"),
    ({"username": "maria_s", "password": "my maria_s secret"}, "password", "username"),
    ({"username": "a b"}, "username", "3 to 50"),
    ({"email": "not-an-email"}, "email", "email"),
    ({"language": "klingon"}, "language", "one of"),
    ({"phone": "call me"}, "phone", "phone"),
])
async def test_bad_registration_input_is_a_422_and_stores_nothing(env, overrides, field, message):
    body = {**base(), "username": "maria.santos", "email": "maria@example.org",
            "password": "correct horse battery staple", **overrides}
    resp = await env.client.post("/members", json=body)
    assert resp.status == 422
    assert message in (await resp.json())["error"]["fields"][field]
    await nothing_stored(env)
