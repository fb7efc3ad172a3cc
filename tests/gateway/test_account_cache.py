"""The gateway's account cache: what a member reading an account summary sees while the
account changes. The gateway and its database are real, and so is Kafka (the change feed
follows billing.v1 and payments.v1); the services behind it are the fakes of fakes.py,
whose answers the tests change, publishing the event the real service would publish."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from services.gateway.adapters.change_feed import Freshness
from services.gateway.entrypoints import keys
from services.gateway.service_layer.account_cache import AccountCache
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.kafka import ensure_topics
from tests.gateway import fakes
from tests.gateway.conftest import _client
from tests.gateway.test_api import LOOKUP, payment
from tests.helpers import publish_events, wait_for

ACCOUNT = f"/api/v1/billing-accounts/{fakes.BAN_A}"


def billing_calls(upstream: fakes.Upstream) -> int:
    return sum(1 for service, what, *_ in upstream.seen
               if service == "billing" and what == f"GET /accounts/{fakes.BAN_A}")


@pytest.fixture
async def cached(infra, gateway_db, upstream):
    """The gateway with its account cache on, following the test Kafka, and a guest's token."""
    await ensure_topics(infra.kafka_bootstrap)
    client = await _client(gateway_db, upstream, kafka_bootstrap=infra.kafka_bootstrap,
                           account_cache_ttl_s=60, account_cache_settle_s=0.5,
                           health_probe_interval_s=0.2, captcha_enabled=False)
    assert await client.app[keys.DEPS].change_feed.wait_live(30), "the change feed never followed Kafka"
    r = await client.post("/api/v1/lookups", json=LOOKUP)
    assert r.status == 201, await r.text()
    client.headers = {"Authorization": f"Bearer {(await r.json())['lookup_token']}"}
    yield client
    await client.close()


@pytest.fixture
async def producer(infra):
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await p.start()
    yield p
    await p.stop()


async def total(client) -> str:
    r = await client.get(ACCOUNT, headers=client.headers)
    body = await r.json()
    assert r.status == 200, body
    return body["total_balance"]


def balance_changed(total_cents: int) -> Envelope:
    return Envelope(event_type="balance.changed", producer="billing", key=fakes.BAN_A,
                    data={"billing_account_number": fakes.BAN_A, "plan_type": "health",
                          "total_balance_cents": total_cents, "lines": [], "reason": "payment_applied"})


async def test_repeated_reads_of_an_account_are_answered_without_asking_billing_again(cached, upstream):
    assert await total(cached) == "193.00"
    before = billing_calls(upstream)
    for _ in range(5):
        assert await total(cached) == "193.00"
    assert billing_calls(upstream) == before


async def test_a_billing_event_about_the_account_shows_the_new_balance(cached, upstream, producer):
    assert await total(cached) == "193.00"
    upstream.total_balance_cents = 9_900
    # Without an event the copy stands (it is what billing said; nothing announced a change).
    assert await total(cached) == "193.00"
    await publish_events(producer, balance_changed(9_900))

    async def shows_new_balance() -> bool:
        return await total(cached) == "99.00"
    await wait_for(shows_new_balance, timeout_s=10, what="the new balance")


async def test_after_a_payment_through_the_gateway_the_next_read_asks_billing(cached, upstream):
    await total(cached)
    before = billing_calls(upstream)
    r = await cached.post("/api/v1/payments", json=payment(),
                          headers={**cached.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"})
    assert r.status == 201, await r.text()
    upstream.total_balance_cents = 0  # billing records the payment (its event may lag)
    assert await total(cached) == "0.00"
    assert billing_calls(upstream) == before + 1


async def test_with_billing_stopped_the_page_shows_the_notice_not_an_old_copy(cached, upstream):
    await total(cached)
    upstream.down.add("billing")

    async def notices() -> list:
        r = await cached.get(ACCOUNT, headers=cached.headers)
        return (await r.json())["notices"]
    found = await wait_for(notices, timeout_s=5, what="the billing notice")
    assert [n["service"] for n in found] == ["billing"]
    upstream.down.discard("billing")

    async def complete_again() -> bool:
        return await notices() == []
    await wait_for(complete_again, timeout_s=5, what="a complete answer again")


# -- the cache's rules, on a clock the test moves ------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(answers: list[dict]):
    calls = {"n": 0}

    async def fetch() -> dict:
        calls["n"] += 1
        await asyncio.sleep(0.01)
        return answers[min(calls["n"], len(answers)) - 1]
    return fetch, calls


def complete(answer: dict) -> bool:
    return not answer.get("notices")


async def test_a_copy_is_never_older_than_its_time_to_live():
    clock = Clock()
    cache = AccountCache(ttl_s=30, settle_s=5, max_entries=10, clock=clock)
    fetch, calls = counting([{"total": "1.00", "notices": []}, {"total": "2.00", "notices": []}])
    assert (await cache.get("7000000001", fetch, complete))["total"] == "1.00"
    clock.now += 29
    assert (await cache.get("7000000001", fetch, complete))["total"] == "1.00"
    clock.now += 2
    assert (await cache.get("7000000001", fetch, complete))["total"] == "2.00"
    assert calls["n"] == 2


async def test_after_a_change_the_account_is_read_fresh_until_it_settles():
    clock = Clock()
    cache = AccountCache(ttl_s=30, settle_s=5, max_entries=10, clock=clock)
    fetch, calls = counting([{"total": str(i), "notices": []} for i in range(1, 10)])
    await cache.get("7000000001", fetch, complete)
    cache.invalidate("7000000001")
    assert (await cache.get("7000000001", fetch, complete))["total"] == "2"
    assert (await cache.get("7000000001", fetch, complete))["total"] == "3"
    clock.now += 5
    assert (await cache.get("7000000001", fetch, complete))["total"] == "4"
    assert (await cache.get("7000000001", fetch, complete))["total"] == "4"
    assert calls["n"] == 4


async def test_a_read_that_began_before_a_change_is_not_kept():
    clock = Clock()
    cache = AccountCache(ttl_s=30, settle_s=0, max_entries=10, clock=clock)
    fetch, calls = counting([{"total": "old", "notices": []}, {"total": "new", "notices": []}])
    reading = asyncio.create_task(cache.get("7000000001", fetch, complete))
    await asyncio.sleep(0)
    clock.now += 0.001
    cache.invalidate("7000000001")
    clock.now += 0.001
    assert (await reading)["total"] == "old"
    assert (await cache.get("7000000001", fetch, complete))["total"] == "new"
    assert calls["n"] == 2


async def test_partial_answers_are_not_kept_and_readers_at_once_share_one_read():
    cache = AccountCache(ttl_s=30, settle_s=0, max_entries=10)
    fetch, calls = counting([{"total": None, "notices": [{"service": "billing"}]},
                             {"total": "5.00", "notices": []}])
    assert (await cache.get("7000000001", fetch, complete))["notices"]
    answers = await asyncio.gather(*(cache.get("7000000001", fetch, complete) for _ in range(10)))
    assert {a["total"] for a in answers} == {"5.00"}
    assert calls["n"] == 2
    answers[0]["total"] = "changed by one reader"
    assert (await cache.get("7000000001", fetch, complete))["total"] == "5.00"


async def test_nothing_is_served_while_the_cache_cannot_be_trusted():
    trusted = {"ok": False}
    cache = AccountCache(ttl_s=30, settle_s=0, max_entries=10, usable=lambda: trusted["ok"])
    fetch, calls = counting([{"total": str(i), "notices": []} for i in range(1, 10)])
    await cache.get("7000000001", fetch, complete)
    await cache.get("7000000001", fetch, complete)
    assert calls["n"] == 2
    trusted["ok"] = True
    await cache.get("7000000001", fetch, complete)
    await cache.get("7000000001", fetch, complete)
    assert calls["n"] == 3
    cache.clear()  # the change feed restarted
    assert (await cache.get("7000000001", fetch, complete))["total"] == "4"


# -- under load: a busy service is not a stopped one, a busy feed is not a lost one ---------

async def test_while_one_account_times_out_the_others_are_still_answered_from_their_copies(
        infra, gateway_db, upstream, producer):
    """Calls that time out (billing busy with one account) give their caller the notice; a
    member reading another account still gets it whole from its copy, billing not asked."""
    await ensure_topics(infra.kafka_bootstrap)
    client = await _client(gateway_db, upstream, kafka_bootstrap=infra.kafka_bootstrap,
                           account_cache_ttl_s=60, account_cache_settle_s=0.5,
                           upstream_timeout_s=0.3, captcha_enabled=False)
    try:
        assert await client.app[keys.DEPS].change_feed.wait_live(30), "the change feed never followed Kafka"
        tokens = {}
        for ban in (fakes.BAN_A, fakes.BAN_B):
            r = await client.post("/api/v1/lookups", json={
                **LOOKUP, "id_type": "billing_account_number", "id_value": ban,
                "id_value_confirmation": ban})
            assert r.status == 201, await r.text()
            tokens[ban] = {"Authorization": f"Bearer {(await r.json())['lookup_token']}"}

        async def read(ban: str) -> dict:
            r = await client.get(f"/api/v1/billing-accounts/{ban}", headers=tokens[ban])
            assert r.status == 200, await r.text()
            return await r.json()

        assert (await read(fakes.BAN_A))["total_balance"] == "193.00"
        before = billing_calls(upstream)
        # Account B changes, and billing is now too slow to answer for it in time.
        upstream.slow[f"/accounts/{fakes.BAN_B}"] = 1.0  # longer than the call timeout
        await publish_events(producer, Envelope(
            event_type="balance.changed", producer="billing", key=fakes.BAN_B,
            data={"billing_account_number": fakes.BAN_B, "plan_type": "health",
                  "total_balance_cents": 19_300, "lines": [], "reason": "payment_applied"}))

        async def b_times_out() -> bool:
            return (await read(fakes.BAN_B))["notices"] != []
        await wait_for(b_times_out, timeout_s=10, what="account B's reads timing out")
        slow_reads = [asyncio.create_task(read(fakes.BAN_B)) for _ in range(3)]
        answers = []
        for _ in range(10):  # while B's calls time out, and after
            answers.append(await read(fakes.BAN_A))
            await asyncio.sleep(0.15)
        slow = await asyncio.gather(*slow_reads)
        assert all([n["service"] for n in b["notices"]] == ["billing"] for b in slow), slow
        assert all(a["notices"] == [] and a["total_balance"] == "193.00" for a in answers)
        assert billing_calls(upstream) == before, "account A was read from billing again"
    finally:
        await client.close()


async def test_a_burst_of_events_about_other_accounts_leaves_the_copies_in_service(cached, upstream, producer):
    """Thousands of events about other accounts at once (a month-end run) do not send the
    reads of an unchanged account to billing; a change to it still shows."""
    assert await total(cached) == "193.00"
    before = billing_calls(upstream)
    others = [Envelope(event_type="balance.changed", producer="billing", key=f"71{i:08d}",
                       data={"billing_account_number": f"71{i:08d}", "plan_type": "health",
                             "total_balance_cents": 100, "lines": [], "reason": "payment_applied"})
              for i in range(5_000)]

    async def burst() -> None:
        sent = [await producer.send(topics.BILLING_V1, e.to_bytes(), key=e.key.encode(),
                                    headers=e.headers()) for e in others]
        await asyncio.gather(*sent)
    publishing = asyncio.create_task(burst())
    for _ in range(20):  # while the burst is written and read, and after
        assert await total(cached) == "193.00"
        await asyncio.sleep(0.05)
    await publishing
    assert billing_calls(upstream) == before
    upstream.total_balance_cents = 9_900
    await publish_events(producer, balance_changed(9_900))

    async def shows_new_balance() -> bool:
        return await total(cached) == "99.00"
    await wait_for(shows_new_balance, timeout_s=10, what="the new balance")


def test_the_feed_is_trusted_by_how_long_ago_it_read_everything_not_by_how_many_events_wait():
    now = {"t": 100.0}
    fresh = Freshness(clock=lambda: now["t"])
    assert fresh.behind_s() == float("inf")  # nothing read yet: not trusted
    fresh.observe({"p0": 10_000}, {"p0": 4_000})  # 6,000 events behind at t=100
    now["t"] = 100.5
    fresh.observe({"p0": 12_000}, {"p0": 10_000})  # read all that was there at t=100
    assert fresh.behind_s() == 0.5
    now["t"] = 107.0
    fresh.observe({"p0": 30_000}, {"p0": 11_000})  # still short of what t=100.5 had
    assert fresh.behind_s() == 7.0
    fresh.observe({"p0": 30_000}, {"p0": 30_000})
    assert fresh.behind_s() == 0.0
