"""Intake from enrollment.v1 and billing.v1 through the real broker: idempotent under
redelivery, updates replace what changed, terminations keep history, and no full SSN ends
up in any column, log line or published event."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from shared.contracts.envelope import Envelope
from tests.identity.integration.conftest import (
    Member,
    account_opened,
    enrollment_event,
    random_ban,
    random_digits,
)


def new_member() -> Member:
    return Member(household_id=f"HH-{uuid.uuid4().hex[:10]}", first_name="Ana", last_name="Rivera",
                  date_of_birth=date(1978, 11, 30), ssn=random_digits(9),
                  email=f"{uuid.uuid4().hex[:8]}@example.org")


async def snapshot(env, household_id: str) -> dict:
    member = await env.pool.fetchrow(
        "SELECT member_id, first_name, last_name, date_of_birth, ssn_hash, email, updated_at "
        "FROM members WHERE household_id = $1", household_id)
    enrollments = await env.pool.fetch(
        "SELECT enrollment_id, plan_type, status, shopped_at, updated_at FROM enrollments "
        "WHERE household_id = $1 ORDER BY enrollment_id", household_id)
    history = await env.pool.fetchval(
        "SELECT count(*) FROM enrollment_history h JOIN enrollments e USING (enrollment_id) "
        "WHERE e.household_id = $1", household_id)
    bans = await env.pool.fetch("SELECT * FROM billing_accounts WHERE household_id = $1", household_id)
    return {"member": dict(member) if member else None, "enrollments": [dict(r) for r in enrollments],
            "history": history, "bans": [dict(r) for r in bans]}


async def test_redelivered_events_change_nothing_the_second_time(env):
    m = new_member()
    m.enrollments["health"] = random_digits(10, "33")
    m.bans["health"] = random_ban()
    shopped = datetime.now(timezone.utc) - timedelta(days=2)
    events = [enrollment_event(m, "health", m.enrollments["health"], shopped_at=shopped),
              account_opened(m, "health", m.bans["health"])]
    await env.publish(*events)
    await env.wait_applied(*events)
    first = await snapshot(env, m.household_id)
    assert first["member"]["first_name"] == "Ana" and len(first["enrollments"]) == 1

    # The same events again (a producer retry, a consumer replay), then a marker event.
    marker = enrollment_event(new_member(), "dental", random_digits(10, "33"), shopped_at=shopped)
    await env.publish(*events, *events, marker)
    await env.wait_applied(marker)
    assert await snapshot(env, m.household_id) == first
    assert await env.pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE event_id = ANY($1::uuid[])",
        [e.event_id for e in events]) == 2


async def test_updates_replace_what_changed_and_keep_the_rest(env):
    m = await env.enrolled(plans=("health",))
    before = await snapshot(env, m.household_id)
    update = enrollment_event(m, "health", m.enrollments["health"], event_type="enrollment.updated",
                              shopped_at=before["enrollments"][0]["shopped_at"],
                              last_name="Rivera-Santos", ssn=None)
    await env.publish(update)
    await env.wait_applied(update)
    after = await snapshot(env, m.household_id)
    assert after["member"]["last_name"] == "Rivera-Santos"
    assert after["member"]["member_id"] == before["member"]["member_id"]
    assert after["member"]["ssn_hash"] == before["member"]["ssn_hash"]   # no SSN sent: kept
    # The new name identifies the member; the old one no longer does.
    ok = await env.client.post("/lookups", json=m.lookup("health", "ssn", last_name="rivera-santos"))
    old = await env.client.post("/lookups", json=m.lookup("health", "ssn"))
    assert ok.status == 200 and old.status == 404


async def test_an_older_event_arriving_late_does_not_overwrite_a_newer_one(env):
    m = await env.enrolled(plans=("health",))
    shopped = datetime.now(timezone.utc) - timedelta(days=1)
    newer = enrollment_event(m, "health", m.enrollments["health"], event_type="enrollment.updated",
                             shopped_at=shopped, first_name="Anabel")
    older = Envelope(**{**newer.model_dump(), "event_id": uuid.uuid4(),
                        "occurred_at": newer.occurred_at - timedelta(minutes=5),
                        "data": {**newer.data, "subscriber": {**newer.data["subscriber"], "first_name": "Anna"}}})
    await env.publish(newer, older)
    await env.wait_applied(newer, older)
    assert (await snapshot(env, m.household_id))["member"]["first_name"] == "Anabel"


async def test_termination_keeps_the_enrollment_and_its_history(env):
    m = await env.enrolled(plans=("health",))
    end = Envelope(event_type="enrollment.terminated", producer="enrollment", key=m.household_id,
                   data={"enrollment_id": m.enrollments["health"], "reason": "moved out of state",
                         "effective_date": "2026-06-30"})
    await env.publish(end)
    await env.wait_applied(end)
    row = await env.pool.fetchrow("SELECT * FROM enrollments WHERE enrollment_id = $1", m.enrollments["health"])
    assert row["status"] == "terminated" and row["termination_reason"] == "moved out of state"
    assert str(row["terminated_on"]) == "2026-06-30"
    history = await env.pool.fetch("SELECT event_type FROM enrollment_history WHERE enrollment_id = $1 "
                                   "ORDER BY occurred_at", m.enrollments["health"])
    assert [r["event_type"] for r in history] == ["enrollment.created", "enrollment.terminated"]
    # A member with only a terminated plan can still find the account (a balance may be owed).
    assert (await env.client.post("/lookups", json=m.lookup("health", "billing_account_number"))).status == 200


async def test_no_full_ssn_in_any_column_log_line_or_event(env):
    # A full run: intake, lookups (good and bad), registration, login, reset, contact change.
    m = await env.enrolled()
    for id_type in ("ssn", "enrollment_id", "billing_account_number"):
        await env.client.post("/lookups", json=m.lookup("health", id_type))
    s2 = random_digits(9)
    await env.client.post("/lookups", json=m.lookup("health", "ssn", id_value=s2, id_value_confirmation=s2))
    await env.client.post("/lookups", json=m.lookup("health", "ssn", id_value_confirmation=s2))
    resp = await env.client.post("/members", json={
        **m.lookup("dental", "ssn"), "username": "ssncheck" + m.household_id[3:9], "email": m.email,
        "password": "correct horse battery staple"})
    member_id = (await resp.json())["member_id"]
    await env.client.post("/sessions", json={"username": "ssncheck" + m.household_id[3:9],
                                             "password": "wrong wrong wrong", "client_ip": "10.1.2.3"})
    await env.client.post("/password-resets", json={"email": m.email, "base_url": "http://x.test/r"})
    await env.client.patch(f"/members/{member_id}/contact", json={"phone": "617-555-0111"})
    await env.outbox()  # wait until every event identity committed is on its topic

    secrets = [m.ssn, f"{m.ssn[:3]}-{m.ssn[3:5]}-{m.ssn[5:]}", s2]
    hex_forms = [s.encode().hex() for s in secrets]
    # Every column of every table, as text (bytea shows as hex: search both forms).
    columns = await env.pool.fetch(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public'""")
    assert len(columns) > 40
    for c in columns:
        values = await env.pool.fetch(f'SELECT "{c["column_name"]}"::text AS v FROM "{c["table_name"]}"')
        for v in values:
            text = v["v"] or ""
            for needle in secrets + hex_forms:
                assert needle not in text, f'{c["table_name"]}.{c["column_name"]}'
    # The SSN really was taken in (hashed and encrypted), so the search was meaningful.
    assert await env.pool.fetchval("SELECT ssn_hash IS NOT NULL AND ssn_encrypted IS NOT NULL "
                                   "FROM members WHERE household_id = $1", m.household_id)
    # Every log line written during the module, unredacted.
    assert env.logs.lines
    for line in env.logs.lines:
        for needle in secrets:
            assert needle not in line
    # Every event identity published during the module, as its subscribers receive them.
    published = env.tap.records()
    assert {"member.registered", "member.contact_changed", "password.reset_requested"} <= {
        r.envelope.event_type for r in published if r.key == member_id}
    for r in published:
        raw = r.value.decode()
        for needle in secrets:
            assert needle not in raw
