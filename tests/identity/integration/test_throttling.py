"""Lookup throttling in PostgreSQL: per client address and per target ID, kicks in at the
limit, says when to retry, recovers when the window ends, and holds across two replicas
(two services on one database). Only failures count against an ID, and per (ID, address)
before all addresses together: a member's own lookups, and a stranger at one address, do not
keep the member out."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from services.identity.app import build_service
from tests.helpers import service_client
from tests.identity.integration.conftest import random_ban, random_digits, random_ip

IDENTITY_SETTINGS = dict(lookup_ip_limit=4, lookup_ip_window_s=2,
                         lookup_pair_limit=2, lookup_pair_window_s=2,
                         lookup_target_limit=3, lookup_target_window_s=2)


async def statuses(env, bodies) -> list[int]:
    out = []
    for body in bodies:
        resp = await env.client.post("/lookups", json=body)
        out.append(resp.status)
        if resp.status == 429:
            assert (await resp.json())["error"]["retry_after_s"] >= 1
    return out


async def wait_for_next_window(seconds: int = 2) -> None:
    """Windows start on whole multiples of their length in wall-clock time: start a burst just
    after an edge so it never straddles two windows."""
    await asyncio.sleep(seconds - (time.time() % seconds) + 0.05)


@asynccontextmanager
async def second_replica(env):
    """A client of another identity replica on the same database (no consumers, no relay)."""
    replica = build_service(env.settings.model_copy(update={"run_consumers": False, "run_relay": False}))
    await replica.start(http=False)
    client = service_client(replica, caller="gateway")
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await replica.stop()


async def test_guessing_dates_of_birth_for_one_id_is_throttled_then_recovers(env):
    m = await env.enrolled()
    await wait_for_next_window()
    guesses = [m.lookup("health", "ssn", date_of_birth=f"1984-03-{d:02d}") for d in range(1, 6)]
    # Each guess from a different address: only the per-target limit applies.
    assert await statuses(env, guesses) == [404, 404, 404, 429, 429]
    # Even the right answer is refused while the target is throttled ...
    assert await statuses(env, [m.lookup("health", "ssn")]) == [429]
    await asyncio.sleep(2.1)
    # ... and accepted once the window has passed.
    assert await statuses(env, [m.lookup("health", "ssn")]) == [200]


async def test_successful_lookups_do_not_count_against_the_id(env):
    m = await env.enrolled()
    right, wrong = m.lookup("health", "ssn"), m.lookup("health", "ssn", date_of_birth="1984-03-01")
    await wait_for_next_window()
    # Four matches and three failures, each from its own address: only the failures count.
    bodies = [b for _ in range(3) for b in (m.lookup("health", "ssn"),
                                            m.lookup("health", "ssn", date_of_birth="1984-03-01"))]
    assert await statuses(env, [right] + bodies) == [200] + [200, 404] * 3
    # The limit is reached by the three failures alone.
    assert await statuses(env, [wrong]) == [429]


async def test_matches_arriving_together_are_each_given_back(env):
    """Lookups that end together give their attempts back in one statement: the ID's
    counters lose one hit for each match, so its whole allowance is left for failures."""
    m = await env.enrolled()
    await wait_for_next_window()
    answers = await asyncio.gather(*(env.client.post("/lookups", json=m.lookup("health", "ssn"))
                                     for _ in range(3)))   # the target's limit, at once
    assert [r.status for r in answers] == [200] * 3
    wrong = [m.lookup("health", "ssn", date_of_birth="1984-03-01") for _ in range(4)]
    assert await statuses(env, wrong) == [404, 404, 404, 429]


async def test_a_stranger_at_one_address_cannot_keep_the_member_out(env):
    m = await env.enrolled()
    stranger = random_ip()
    await wait_for_next_window()
    guesses = [m.lookup("health", "enrollment_id", client_ip=stranger, date_of_birth=f"1984-03-{d:02d}")
               for d in range(1, 7)]
    assert await statuses(env, guesses) == [404, 404, 429, 429, 429, 429]
    resp = await env.client.post("/lookups", json=guesses[-1])
    body = await resp.json()
    assert resp.status == 429 and 1 <= body["error"]["retry_after_s"] <= 2
    assert "second" in body["error"]["message"] or "minute" in body["error"]["message"]
    # The member, at their own address, still gets in (and more than once) ...
    assert await statuses(env, [m.lookup("health", "enrollment_id")] * 2) == [200, 200]
    # ... while the stranger's address stays refused, even with the right answer.
    assert await statuses(env, [m.lookup("health", "enrollment_id", client_ip=stranger)]) == [429]


async def test_one_address_guessing_ssns_is_throttled_then_recovers(env):
    m = await env.enrolled()
    ip = random_ip()
    await wait_for_next_window()
    guesses = []
    for _ in range(6):
        s = random_digits(9)
        guesses.append(m.lookup("health", "ssn", id_value=s, id_value_confirmation=s, client_ip=ip))
    assert await statuses(env, guesses) == [404, 404, 404, 404, 429, 429]
    assert await statuses(env, [m.lookup("health", "ssn", client_ip=ip)]) == [429]
    await asyncio.sleep(2.1)
    assert await statuses(env, [m.lookup("health", "ssn", client_ip=ip)]) == [200]


async def test_the_limit_holds_across_replicas(env):
    m = await env.enrolled()
    async with second_replica(env) as client:
        await wait_for_next_window()
        answers = []
        for i in range(5):   # alternate between the two replicas
            c = env.client if i % 2 == 0 else client
            resp = await c.post("/lookups", json=m.lookup("dental", "enrollment_id", first_name="Wrong"))
            answers.append(resp.status)
        assert answers == [404, 404, 404, 429, 429]


async def test_throttle_counters_keep_no_id_in_clear(env):
    m = await env.enrolled()
    await env.client.post("/lookups", json=m.lookup("health", "ssn"))
    rows = await env.pool.fetch("SELECT scope, subject FROM throttle_counters")
    assert rows
    for r in rows:
        assert m.ssn.encode() not in r["subject"] and len(r["subject"]) == 16


async def test_a_concurrent_burst_from_one_address_is_counted_attempt_by_attempt(env):
    """Lookups arriving together share statements (batches); each still counts as one
    attempt, so exactly the limit gets through whatever the batching."""
    m = await env.enrolled()
    ip = random_ip()
    await wait_for_next_window()
    bodies = [m.lookup("health", "billing_account_number", client_ip=ip,
                       id_value=random_ban()) for _ in range(9)]   # 9 targets, 1 address
    answers = await asyncio.gather(*(env.client.post("/lookups", json=b) for b in bodies))
    assert sorted(r.status for r in answers) == [404] * 4 + [429] * 5


async def test_a_concurrent_burst_on_one_target_across_replicas_stops_at_the_limit(env):
    m = await env.enrolled()
    async with second_replica(env) as client:
        await wait_for_next_window()
        body = lambda: m.lookup("dental", "ssn", date_of_birth="1990-01-01")  # noqa: E731
        answers = await asyncio.gather(*(
            (env.client if i % 2 == 0 else client).post("/lookups", json=body()) for i in range(8)))
        assert sorted(r.status for r in answers) == [404] * 3 + [429] * 5


async def test_only_the_gateways_word_on_the_members_address_counts(env):
    """Another caller's client_ip is ignored: its lookups all count against the address it
    connects from, however many addresses its bodies claim."""
    members = [await env.enrolled(plans=("health",)) for _ in range(3)]
    bodies = [members[i % 3].lookup("health", "enrollment_id", client_ip=random_ip()) for i in range(5)]
    operator = service_client(env.service, caller="operator")
    await operator.start_server()
    try:
        await wait_for_next_window()
        claimed = [(await operator.post("/lookups", json=body)).status for body in bodies]
    finally:
        await operator.close()
    assert claimed == [200, 200, 200, 200, 429]
    await wait_for_next_window()
    assert await statuses(env, bodies) == [200] * 5  # the gateway's: five members' addresses
