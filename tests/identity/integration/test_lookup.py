"""POST /lookups against the real service: the three IDs for both plan types, one answer
for every mismatch, the 4-hour rule on both sides, a billing account not yet opened."""
from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.identity.integration.conftest import enrollment_event, random_ban, random_digits, random_letters


@pytest.mark.parametrize("plan_type", ["health", "dental"])
@pytest.mark.parametrize("id_type", ["enrollment_id", "ssn", "billing_account_number"])
async def test_lookup_by_each_id_finds_the_billing_account(env, plan_type, id_type):
    m = await env.enrolled()
    resp = await env.client.post("/lookups", json=m.lookup(plan_type, id_type))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["billing_account_number"] == m.bans[plan_type]
    assert body["plan_type"] == plan_type
    assert body["enrollment_ids"] == [m.enrollments[plan_type]]
    assert body["first_name"] == "Maria"
    assert body["contact"]["email"] == m.email
    assert body["member_id"]


async def test_names_compare_without_case_or_surrounding_spaces_and_ssn_may_have_dashes(env):
    m = await env.enrolled()
    dashed = f"{m.ssn[:3]}-{m.ssn[3:5]}-{m.ssn[5:]}"
    resp = await env.client.post("/lookups", json=m.lookup(
        "health", "ssn", first_name="  MARIA ", last_name=f" {m.last_name.lower()}",
        id_value=dashed, id_value_confirmation=m.ssn))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["billing_account_number"] == m.bans["health"]


async def test_names_as_phones_type_them_are_found(env):
    """An iPhone's typographic apostrophe, a name typed without its accent or with an en dash:
    the same member. An initial is still not a name."""
    suffix = random_letters(6)
    m = await env.enrolled(first_name="María", last_name=f"O'Brien-{suffix}")
    for first, last in (("Maria", f"O\u2019Brien-{suffix}"), ("MARIA", f"o'brien\u2013{suffix}"),
                        ("Mari\u0301a", f"O\u2019BRIEN-{suffix}")):
        resp = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id",
                                                               first_name=first, last_name=last))
        assert resp.status == 200, (first, last, await resp.text())
        assert (await resp.json())["billing_account_number"] == m.bans["health"]
    for first, last in (("M", f"O'Brien-{suffix}"), ("Maria", f"OBrien-{suffix}")):
        resp = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id",
                                                               first_name=first, last_name=last))
        assert resp.status == 404, (first, last)


async def test_every_kind_of_mismatch_gives_the_same_not_found(env):
    m = await env.enrolled()
    other = await env.enrolled(first_name="James")
    wrong = [
        m.lookup("health", "enrollment_id", id_value=random_digits(10, "33")),
        m.lookup("health", "enrollment_id", id_value=m.enrollments["dental"]),   # other plan type
        m.lookup("health", "enrollment_id", first_name="Mario"),
        m.lookup("health", "enrollment_id", first_name="M"),                     # an initial
        m.lookup("health", "enrollment_id", last_name=m.last_name + "x"),
        m.lookup("health", "enrollment_id", date_of_birth="1984-03-16"),
        m.lookup("health", "ssn", id_value=random_digits(9), id_value_confirmation=None),
        m.lookup("health", "billing_account_number", id_value=random_ban()),
        m.lookup("health", "billing_account_number", id_value=m.bans["dental"]),
        m.lookup("health", "billing_account_number", id_value=other.bans["health"]),
        m.lookup("dental", "ssn", id_value=other.ssn, id_value_confirmation=other.ssn),
    ]
    for body in wrong:
        if body.get("id_value_confirmation", 0) is None:
            body["id_value_confirmation"] = body["id_value"]
    answers, times = [], []
    for body in wrong:
        took = []
        for _ in range(5):   # a few times each, so one scheduling hiccup does not decide
            started = time.perf_counter()
            resp = await env.client.post("/lookups", json=body)
            took.append(time.perf_counter() - started)
            answers.append((resp.status, await resp.json()))
        times.append(statistics.median(took))
    assert all(a == answers[0] for a in answers), answers
    status, body = answers[0]
    assert status == 404 and body["error"]["code"] == "not_found"
    assert body["error"]["fields"] == {}
    # About the same time whatever was wrong: no kind of mismatch is far slower than the rest.
    assert max(times) < statistics.median(times) * 3 + 0.01, times


async def test_plan_shopped_under_four_hours_ago_is_not_yet_payable_with_the_time(env):
    m = await env.enrolled(shopped_hours_ago=3 + 58 / 60)   # 3 h 58 min ago
    shopped = await env.pool.fetchval("SELECT shopped_at FROM enrollments WHERE enrollment_id = $1",
                                      m.enrollments["health"])
    resp = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id"))
    assert resp.status == 409
    err = (await resp.json())["error"]
    assert err["code"] == "not_yet_payable"
    payable_at = datetime.fromisoformat(err["payable_at"])
    assert payable_at.tzinfo is not None
    assert payable_at == shopped + timedelta(hours=4)


async def test_plan_shopped_just_over_four_hours_ago_is_payable(env):
    m = await env.enrolled(shopped_hours_ago=4 + 2 / 60)    # 4 h 2 min ago
    resp = await env.client.post("/lookups", json=m.lookup("health", "ssn"))
    assert resp.status == 200, await resp.text()


async def test_the_four_hour_rule_changes_its_answer_at_the_boundary(env):
    m = await env.enrolled(shopped_hours_ago=1)
    shopped = await env.pool.fetchval("SELECT shopped_at FROM enrollments WHERE enrollment_id = $1",
                                      m.enrollments["health"])
    real_clock = env.deps.clock
    try:
        env.deps.clock = lambda: shopped + timedelta(hours=4) - timedelta(seconds=1)
        before = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id"))
        env.deps.clock = lambda: shopped + timedelta(hours=4)
        at = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id"))
    finally:
        env.deps.clock = real_clock
    assert before.status == 409 and at.status == 200


async def test_no_billing_account_yet_says_account_not_ready(env):
    m = await env.enrolled(open_accounts=False)
    resp = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id"))
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "account_not_ready"


async def test_renewal_lists_both_years_and_the_old_year_stays_payable(env):
    m = await env.enrolled(plans=("health",))
    renewal = random_digits(10, "33")
    e = enrollment_event(m, "health", renewal, coverage_year=2027,
                         shopped_at=datetime.now(timezone.utc) - timedelta(hours=1))
    await env.publish(e)
    await env.wait_applied(e)
    resp = await env.client.post("/lookups", json=m.lookup("health", "billing_account_number"))
    assert resp.status == 200
    assert (await resp.json())["enrollment_ids"] == [m.enrollments["health"], renewal]
    # The renewal alone, shopped an hour ago, is not payable yet.
    resp = await env.client.post("/lookups", json=m.lookup("health", "enrollment_id", id_value=renewal))
    assert resp.status == 409


async def test_lookups_arriving_together_each_get_their_own_answer(env):
    """Concurrent lookups share statements; every one still gets the answer for its own ID,
    name and plan type (found by each ID, not found on any mismatch)."""
    m = await env.enrolled()
    other = await env.enrolled(first_name="James")
    cases = []
    for person in (m, other):
        for plan_type in ("health", "dental"):
            for id_type in ("enrollment_id", "ssn", "billing_account_number"):
                cases.append((person.lookup(plan_type, id_type), 200, person.bans[plan_type]))
    cases += [(m.lookup("health", "ssn", first_name="James"), 404, None),
              (other.lookup("dental", "enrollment_id", id_value=m.enrollments["dental"]), 404, None),
              (m.lookup("dental", "billing_account_number", id_value=random_ban()), 404, None)]
    responses = await asyncio.gather(*(env.client.post("/lookups", json=b) for b, _, _ in cases * 2))
    for (body, status, ban), resp in zip(cases * 2, responses):
        assert resp.status == status, (body["id_type"], await resp.text())
        if status == 200:
            assert (await resp.json())["billing_account_number"] == ban
        else:
            assert (await resp.json())["error"]["code"] == "not_found"
