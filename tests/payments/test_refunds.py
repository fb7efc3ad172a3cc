"""Refunds of credit against the real stack's payments and billing services (real Kafka and
PostgreSQL): an overpayment becomes a credit the member sees, the member asks for it back,
the refund goes out as an ACH credit entry that an independent NACHA parser reads back,
billing's ledger and the credit follow, a large refund waits for an operator, and a refund
the bank returns gives the credit back."""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import uuid
from datetime import date
from pathlib import Path

from ach.parser import Parser

from sandboxes.bank import validate
from services.payments import cli_refunds
from services.payments.adapters import ach_store
from services.payments.service_layer import ach, refunds
from tests.billing.conftest import billing  # noqa: F401  (the running billing service)
from tests.conftest import unique
from tests.helpers import wait_for
from tests.payments.conftest import CONTACT, bank_method, card_method, new_account

MON, WED, THU, FRI = (date(2026, 3, d) for d in (2, 4, 5, 6))


async def _credit_everywhere(env, billing, ban: str, cents: int) -> None:  # noqa: F811
    """Billing's account answer shows `cents` of credit, and payments' projection agrees."""
    async def both() -> bool:
        summary = await billing.summary(ban)
        owed = await (await env.client.get(f"/accounts/{ban}/owed")).json()
        return summary["credit_cents"] == cents and owed["total_balance_cents"] == -cents
    await wait_for(both, what=f"a credit of {cents} cents on {ban}")


async def _overpaid_account(env, billing, typed: str, method: dict) -> tuple[str, dict]:  # noqa: F811
    """An account billed $100.00 that the member paid `typed` dollars with `method`; the
    account and the payment's answer."""
    ban = await billing.enroll(household_id=unique("H"), coverage_start=date(2026, 4, 1),
                               premium_cents=10_000)

    async def projected() -> bool:
        r = await env.client.get(f"/accounts/{ban}/owed")
        return r.status == 200 and (await r.json())["total_balance_cents"] == 10_000
    await wait_for(projected, what=f"projection of {ban}")
    r = await env.client.post("/payments", json={
        "idempotency_key": uuid.uuid4().hex, "channel": "guest", "contact": CONTACT,
        "billing_account_number": ban, "kind": "one_time", "amount": typed, "method": method})
    paid = await r.json()
    assert r.status == 201, paid
    return ban, paid


async def _card_overpaid(env, billing, day: date) -> tuple[str, dict]:  # noqa: F811
    """An account billed $100.00 paid $112.34 by card on `day`: $12.34 of credit, which is
    under the approval amount (refunded at once)."""
    env.deps.settings.overpay_max_cents = 100_000
    env.deps.settings.refund_approval_cents = 5_000
    env.clock.set(day)
    billing.clock.fix(day)
    return await _overpaid_account(env, billing, "112.34", card_method())


async def _refund(env, ban: str, key: str, amount: str = "credit") -> tuple[int, dict]:
    r = await env.client.post(f"/accounts/{ban}/refunds", json={"amount": amount},
                              headers={"Idempotency-Key": key})
    return r.status, await r.json()


def _entries(text: str) -> tuple[dict, list[dict]]:
    parsed = Parser(text).as_dict()
    return parsed, [e["entry_detail"] for b in parsed["batches"] for e in b["entries"]]


async def test_overpayment_credit_refund_approval_and_return(payments_env, billing, capsys):  # noqa: F811
    env = payments_env
    env.deps.settings.overpay_max_cents = 100_000
    env.deps.settings.refund_approval_cents = 5_000  # over $50.00 an operator approves
    env.clock.set(MON)
    billing.clock.fix(MON)
    small_account, large_account = new_account("00"), new_account("03")
    small, _ = await _overpaid_account(env, billing, "112.34", bank_method(small_account, "checking"))
    large, _ = await _overpaid_account(env, billing, "200.00", bank_method(large_account, "savings"))
    cutoff = await ach.run_cutoff(env.deps, MON)
    assert cutoff["entries"] == 2
    env.clock.set(WED)
    billing.clock.fix(WED)
    assert (await ach.run_settlement(env.deps, WED))["settled"] == 2

    # The overpayment is a credit the member sees (billing's answer, payments' projection).
    await _credit_everywhere(env, billing, small, 1234)
    await _credit_everywhere(env, billing, large, 10_000)

    # The member asks for it back: once per idempotency key, never more than the credit.
    key = str(uuid.uuid4())
    status, first = await _refund(env, small, key)
    assert status == 201, first
    assert (first["amount"], first["status"], first["method"]) == (
        "12.34", "approved", {"type": "checking", "last4": first["method"]["last4"]})
    status, again = await _refund(env, small, key)
    assert (status, again["refund_id"]) == (200, first["refund_id"])
    status, conflict = await _refund(env, small, key, "1.00")
    assert (status, conflict["error"]["code"]) == (409, "idempotency_conflict")
    status, over = await _refund(env, small, str(uuid.uuid4()), "0.01")
    assert (status, over["error"]["code"], over["error"]["available_cents"]) == (409, "refund_over_credit", 0)
    status, too_much = await _refund(env, large, str(uuid.uuid4()), "100.01")
    assert (status, too_much["error"]["available_cents"]) == (409, 10_000)

    # Above the approval amount it waits for an operator.
    status, big = await _refund(env, large, str(uuid.uuid4()), "100.00")
    assert (status, big["status"]) == (201, "pending_approval")
    [requested] = [e for e in await env.events("refund.requested", large)]
    assert (requested["amount_cents"], requested["status"]) == (10_000, "pending_approval")

    # The day's refund file carries only the approved refund, as a checking credit (22).
    made = await refunds.run_refunds(env.deps, WED)
    text = Path(made["path"]).read_text()
    assert "PAYMENTS_20260304_R.ach" == made["file"]
    parsed, entries = _entries(text)
    assert [(e["transaction_code"], int(e["amount"])) for e in entries] == [("22", 1234)]
    assert int(parsed["file_control"]["credit_amount"]) == 1234
    assert int(parsed["file_control"]["debit_amount"]) == 0
    assert parsed["batches"][0]["batch_header"]["std_ent_cls_code"] == "WEB"
    assert parsed["batches"][0]["batch_header"]["serv_cls_code"] == "220"
    assert validate(text).credit_cents == 1234  # the bank sandbox takes it too
    # The encrypted archive holds the refund file too, and it reads back as written.
    async with env.deps.pool.acquire() as conn:
        assert made["file"] in [r["file_name"] for r in await ach_store.archived_files(conn)]
    assert (await ach.verify_archive(env.deps))["problems"] == []
    assert env.deps.archive.sha256(made["file"]) == hashlib.sha256(text.encode("ascii")).hexdigest()
    [issued] = await env.events("refund.issued", small)
    assert (issued["amount_cents"], issued["effective_date"]) == (1234, THU.isoformat())
    assert small_account in text and small_account not in str(issued)  # only the file has it

    # Billing's ledger books it and the credit goes down to nothing.
    await _credit_everywhere(env, billing, small, 0)
    booked = await billing.pool.fetch(
        "SELECT kind, amount_cents FROM ledger WHERE billing_account_number = $1 AND kind = 'refund'", small)
    assert [(r["kind"], r["amount_cents"]) for r in booked] == [("refund", 1234)]

    # The operator lists the refund waiting and approves it; it goes in the next file.
    await cli_refunds.run(env.settings, argparse.Namespace(command="pending"))
    listed = capsys.readouterr().out
    assert big["refund_id"] in listed and "$100.00" in listed and "1 refunds waiting" in listed
    await cli_refunds.run(env.settings, argparse.Namespace(command="approve", refund_id=big["refund_id"],
                                                           operator="ops"))
    assert "approved: " + big["refund_id"] in capsys.readouterr().out
    env.clock.set(THU)
    billing.clock.fix(THU)
    made = await refunds.run_refunds(env.deps, THU)
    text = Path(made["path"]).read_text()
    _, entries = _entries(text)
    assert [(e["transaction_code"], int(e["amount"])) for e in entries] == [("32", 10_000)]
    await _credit_everywhere(env, billing, large, 0)
    assert (await refunds.run_refunds(env.deps, THU))["already"] is True  # once per date

    # The bank returns it (R03): the refund is returned and the credit is the member's again.
    report = env.bank.process(made["file"], text.encode("ascii"))
    assert report["returns"] == 1 and report["return_file"]
    env.clock.set(FRI)
    billing.clock.fix(FRI)
    assert (await ach.run_returns(env.deps, FRI))["returns"] == 1
    [returned] = await env.events("refund.returned", large)
    assert (returned["return_code"], returned["amount_cents"]) == ("R03", 10_000)
    await _credit_everywhere(env, billing, large, 10_000)
    assert large_account not in str(returned) + str(requested)
    kinds = await billing.pool.fetch(
        "SELECT kind, amount_cents FROM ledger WHERE billing_account_number = $1 AND kind LIKE 'refund%' "
        "ORDER BY entry_id", large)
    assert [(r["kind"], r["amount_cents"]) for r in kinds] == [("refund", 10_000), ("refund_returned", -10_000)]
    r = await env.client.get(f"/accounts/{large}/refunds")
    assert [(x["status"], x["return_code"]) for x in (await r.json())["refunds"]] == [("returned", "R03")]


async def test_a_card_overpayment_is_refunded_by_the_processor_at_once(payments_env, billing):  # noqa: F811
    env = payments_env
    ban, paid = await _card_overpaid(env, billing, THU)
    assert paid["status"] == "settled", paid  # a 201 (checked in _overpaid_account)
    await _credit_everywhere(env, billing, ban, 1234)

    status, refund = await _refund(env, ban, str(uuid.uuid4()))
    assert (status, refund["status"], refund["method"]["type"]) == (201, "issued", "card")
    [charge] = [c for c in env.card.charges.values() if c.get("refunds")]
    assert (charge["amount_cents"], charge["refunded_cents"]) == (11_234, 1234)
    [issued] = await env.events("refund.issued", ban)
    assert (issued["amount_cents"], issued["method"]["last4"]) == (1234, "4242")
    await _credit_everywhere(env, billing, ban, 0)
    # The processor refuses more than is left of the charge, whoever asks.
    code, answer = env.card.refund({"charge_id": charge["charge_id"], "amount_cents": 10_001,
                                    "idempotency_key": "again"})
    assert (code, answer["error"]["code"]) == (422, "amount_too_large")


async def test_a_card_refund_the_processor_refuses_fails_and_the_credit_stays(payments_env, billing):  # noqa: F811
    env = payments_env
    ban, paid = await _card_overpaid(env, billing, FRI)
    await _credit_everywhere(env, billing, ban, 1234)
    # The charge was refunded at the processor by other means: less than the credit is left.
    charge = next(c for c in env.card.charges.values() if c["amount_cents"] == 11_234 and not c.get("refunds"))
    code, _ = env.card.refund({"charge_id": charge["charge_id"], "amount_cents": 11_000,
                               "idempotency_key": uuid.uuid4().hex})
    assert code == 201
    status, refund = await _refund(env, ban, str(uuid.uuid4()))
    assert (status, refund["status"]) == (201, "failed")
    [failed] = await env.events("refund.failed", ban)
    assert (failed["refund_id"], failed["amount_cents"], failed["failure_code"], failed["failed_on"]) == \
        (refund["refund_id"], 1234, "amount_too_large", "2026-03-06")
    assert await env.events("refund.issued", ban) == []
    # Nothing left: billing still shows the whole credit, and so does payments.
    await asyncio.sleep(0.5)
    await _credit_everywhere(env, billing, ban, 1234)
