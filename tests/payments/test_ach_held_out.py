"""One debit the NACHA format cannot carry never stops the day's file: it is held out, its
payment fails the normal way (payment.failed, so billing and the member hear of it), the
operator's counter goes up, and the file goes out for everyone else."""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from ach.parser import Parser
from prometheus_client import REGISTRY

from sandboxes.bank import validate
from services.payments.service_layer import ach
from tests.payments.conftest import bank_method, new_account, new_ban

DAY = date(2026, 3, 23)  # a Monday no other test cuts off


async def _submit(env, account: str, cents: int = 10000) -> dict:
    ban = new_ban()
    await env.open_account(ban, {2026: cents})
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(account)})
    assert status == 201, body
    return {"ban": ban, **body}


def _held(field: str) -> float:
    return REGISTRY.get_sample_value("payments_ach_entries_held_out_total", {"field": field}) or 0.0


async def _method_of(env, payment_id: str):
    return await env.pool.fetchrow("SELECT m.* FROM methods m JOIN payments p USING (method_id) "
                                   "WHERE p.payment_id = $1::uuid", payment_id)


async def test_unwritable_entries_are_held_out_and_the_file_goes_out(payments_env, caplog):
    env = payments_env
    env.clock.set(DAY)
    good_account = new_account("00")
    good = await _submit(env, good_account, 12345)
    arabic_routing = await _submit(env, new_account("00"))
    fullwidth_account = await _submit(env, new_account("00"))
    long_name = await _submit(env, new_account("00"))
    for p in (good, arabic_routing, fullwidth_account, long_name):
        await env.pool.execute("UPDATE payments SET submitted_on = $2 WHERE payment_id = $1::uuid",
                               p["payment_id"], DAY)
    # Planted straight into payments' database, as no API would take them.
    m = await _method_of(env, arabic_routing["payment_id"])
    await env.pool.execute("UPDATE methods SET routing_number = $2 WHERE method_id = $1",
                           m["method_id"], "٠١١٠٠٠٠١٥")
    m = await _method_of(env, fullwidth_account["payment_id"])
    planted_account = "１２３４５６７８９０"
    blob, key_id = env.deps.cipher.encrypt(planted_account, m["method_id"])
    await env.pool.execute("UPDATE methods SET account_ciphertext = $2, key_id = $3 WHERE method_id = $1",
                           m["method_id"], blob, key_id)
    m = await _method_of(env, long_name["payment_id"])
    await env.pool.execute("UPDATE methods SET holder_name = $2 WHERE method_id = $1",
                           m["method_id"], "Maria " * 40)
    before = {f: _held(f) for f in ("routing_number", "account_number", "individual_name")}

    with caplog.at_level(logging.ERROR):
        result = await ach.run_cutoff(env.deps, DAY)

    assert result["file"] and result["held_out"] == 3
    text = Path(result["path"]).read_text(encoding="ascii")
    entries = [e["entry_detail"] for b in Parser(text).as_dict()["batches"] for e in b["entries"]]
    assert good_account in {e["dfi_acnt_num"].strip() for e in entries}
    assert len(entries) == result["entries"]
    assert validate(text).debit_cents == result["debit_cents"]  # the bank takes the file
    for p in (arabic_routing, fullwidth_account, long_name):
        row = await env.pool.fetchrow("SELECT status, failure_code, ach_file_id, trace_number "
                                      "FROM payments WHERE payment_id = $1::uuid", p["payment_id"])
        assert dict(row) == {"status": "failed", "failure_code": "ach_entry_unwritable",
                             "ach_file_id": None, "trace_number": None}
        [failed] = await env.events("payment.failed", p["ban"])
        assert failed["reason_code"] == "ach_entry_unwritable" and "pay again" in failed["reason"]
    good_row = await env.pool.fetchrow("SELECT status FROM payments WHERE payment_id = $1::uuid",
                                       good["payment_id"])
    assert good_row["status"] == "originated"
    assert {f: _held(f) - before[f] for f in before} == {"routing_number": 1, "account_number": 1,
                                                          "individual_name": 1}
    held_logs = [r for r in caplog.records if "held out" in r.getMessage()]
    assert len(held_logs) == 3
    for r in held_logs:
        assert planted_account not in repr(r.__dict__) and "٠١١٠٠٠٠١٥" not in repr(r.__dict__)


async def test_a_file_of_only_unwritable_entries_is_not_made(payments_env):
    env = payments_env
    day = date(2026, 3, 24)
    env.clock.set(day)
    p = await _submit(env, new_account("00"))
    await env.pool.execute("UPDATE payments SET submitted_on = $2 WHERE payment_id = $1::uuid",
                           p["payment_id"], day)
    await env.pool.execute("UPDATE payments SET status = 'settled' WHERE status = 'pending' "
                           "AND payment_id <> $1::uuid", p["payment_id"])  # only this one left
    m = await _method_of(env, p["payment_id"])
    await env.pool.execute("UPDATE methods SET routing_number = $2 WHERE method_id = $1",
                           m["method_id"], "０１１００００１５")
    result = await ach.run_cutoff(env.deps, day)
    assert result == {"file": None, "entries": 0, "held_out": 1}
    assert await env.pool.fetchval("SELECT count(*) FROM ach_files WHERE business_date = $1", day) == 0
    assert (await env.events("payment.failed", p["ban"]))[0]["reason_code"] == "ach_entry_unwritable"
