"""Bank debits through origination (NACHA file), the bank sandbox, settlement and each class
of return and notification of change."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from ach.parser import Parser

from sandboxes.bank import validate
from services.payments.service_layer import ach
from tests.payments.conftest import bank_method, new_account, new_ban

MON, TUE, WED, THU, FRI = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))


async def _submit(env, account: str, cents: int = 10000, kind: str = "checking") -> dict:
    ban = new_ban()
    await env.open_account(ban, {2026: cents})
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(account, kind)})
    assert status == 201, body
    return {"ban": ban, **body}


async def _payment(env, payment_id: str) -> dict:
    return await (await env.client.get(f"/payments/{payment_id}")).json()


async def test_origination_file_settlement_and_returns(payments_env):
    env = payments_env
    env.clock.set(MON)
    paid = await _submit(env, new_account("00"), 12345)
    savings = await _submit(env, new_account("20"), 6789, "savings")
    r01 = await _submit(env, new_account("01"))
    r02 = await _submit(env, new_account("02"))
    r03 = await _submit(env, new_account("03"))
    r04 = await _submit(env, new_account("04"))
    noc_account = new_account("55")
    noc = await _submit(env, noc_account)
    c05 = await _submit(env, new_account("66"))
    submitted = [paid, savings, r01, r02, r03, r04, noc, c05]

    result = await ach.run_cutoff(env.deps, MON)
    assert result["entries"] == len(submitted)
    path = Path(result["path"])
    text = path.read_text()
    lines = text.splitlines()
    assert all(len(line) == 94 for line in lines) and len(lines) % 10 == 0
    # An independent parser (the `ach` PyPI library) reads the same totals back.
    parsed = Parser(text).as_dict()
    entries = [e["entry_detail"] for b in parsed["batches"] for e in b["entries"]]
    assert len(entries) == len(submitted) == int(parsed["file_control"]["entadd_count"])
    total = sum(p["amount_cents"] for p in submitted)
    assert int(parsed["file_control"]["debit_amount"]) == total == sum(int(e["amount"]) for e in entries)
    assert int(parsed["file_control"]["entry_hash"]) == sum(int(e["recv_dfi_id"]) for e in entries) % 10 ** 10
    assert {e["transaction_code"] for e in entries} == {"27", "37"}
    assert all(b["batch_header"]["std_ent_cls_code"] == "WEB" for b in parsed["batches"])
    assert validate(text).debit_cents == total  # the bank sandbox accepts it too
    assert (await _payment(env, paid["payment_id"]))["status"] == "originated"

    # A second cutoff for the same date changes nothing.
    again = await ach.run_cutoff(env.deps, MON)
    assert again.get("already") and path.read_text() == text

    # The bank answers; settlement on the effective date (Wednesday).
    [report] = env.bank.poll_once()
    assert report["status"] == "accepted" and report["returns"] == 4 and report["nocs"] == 2
    assert (await ach.run_settlement(env.deps, TUE))["settled"] == 0
    assert (await ach.run_settlement(env.deps, WED))["settled"] == len(submitted)
    [settled] = await env.events("payment.settled", paid["ban"])
    assert settled["settled_on"] == "2026-03-04" and settled["amount_cents"] == 12345

    summary = await ach.run_returns(env.deps, THU)
    assert (summary["returns"], summary["nocs"], summary["rejected"]) == (4, 2, [])
    assert (await ach.run_returns(env.deps, THU))["already_read"] == 1  # re-reading: no-op

    [ret] = await env.events("payment.returned", r01["ban"])
    assert (ret["return_code"], ret["will_retry"], ret["method_disabled"]) == ("R01", True, False)
    assert ret["returned_on"] == "2026-03-05"
    retries = await env.events("payment.submitted", r01["ban"])
    assert len(retries) == 2 and retries[1]["amount_cents"] == 10000
    # The retry says it is one (notify announces it as a retry, not a new payment).
    assert (retries[0]["attempt"], retries[0]["retry_of"]) == (1, None)
    assert (retries[1]["attempt"], retries[1]["retry_of"]) == (2, r01["payment_id"])
    standing = await (await env.client.get(f"/accounts/{r01['ban']}/standing")).json()
    pending = standing["pending"]
    assert [(p["amount_cents"], p["attempt"]) for p in pending["payments"]] == [(10000, 2)]
    assert pending["payments"][0]["expected_withdrawal_date"] == retries[1]["expected_withdrawal_date"]
    for p in (r02, r03, r04):
        [ret] = await env.events("payment.returned", p["ban"])
        assert ret["method_disabled"] and not ret["will_retry"]
        [_, disabled] = await env.events("method.updated", p["ban"])
        assert disabled["status"] == "disabled" and disabled["reason"].startswith(ret["return_code"])
        methods = (await (await env.client.get(f"/accounts/{p['ban']}/methods")).json())["methods"]
        assert methods[0]["status"] == "disabled"
        assert (await _payment(env, p["payment_id"]))["return_code"] == ret["return_code"]
    # A disabled method is refused next time, nothing charged.
    status, body = await env.pay({"billing_account_number": r02["ban"], "kind": "one_time",
                                  "amount": "10.00", "method": bank_method(
                                      (await _account_of(env, r02)), "checking")})
    assert status == 422 and "another account" in body["error"]["fields"]["method.account_number"]

    # NOC C01: the stored account number is corrected (last4 changes), payment untouched.
    [_, corrected] = await env.events("method.updated", noc["ban"])
    assert corrected["status"] == "corrected" and corrected["method"]["last4"] == noc_account[-4:-2] + "56"
    assert await _account_of(env, noc) == noc_account[:-2] + "56"
    assert (await _payment(env, noc["payment_id"]))["status"] == "settled"
    [_, c05_event] = await env.events("method.updated", c05["ban"])
    assert c05_event["method"]["type"] == "savings"


async def _account_of(env, p: dict) -> str:
    row = await env.pool.fetchrow("SELECT m.* FROM methods m JOIN payments p USING (method_id) "
                                  "WHERE p.payment_id = $1::uuid", p["payment_id"])
    return env.deps.cipher.decrypt(row["account_ciphertext"], row["key_id"], row["method_id"])


async def test_r01_is_retried_at_most_twice(payments_env):
    env = payments_env
    p = await _submit(env, new_account("09"))
    day = FRI
    await env.pool.execute("UPDATE payments SET submitted_on = $2 WHERE payment_id = $1::uuid",
                           p["payment_id"], day)
    for presentment in range(3):
        env.clock.set(day)
        result = await ach.run_cutoff(env.deps, day)
        assert result["entries"] >= 1
        env.bank.poll_once()
        await ach.run_returns(env.deps, day)
        day = date(2026, 3, 9 + presentment)
    returns = await env.events("payment.returned", p["ban"])
    assert [r["will_retry"] for r in returns] == [True, True, False]
    assert all(r["return_code"] == "R09" for r in returns)
    assert len(await env.events("payment.submitted", p["ban"])) == 3


async def test_malformed_return_file_is_rejected_whole(payments_env):
    env = payments_env
    day = date(2026, 3, 16)
    env.clock.set(day)
    a = await _submit(env, new_account("02"))
    b = await _submit(env, new_account("01"))
    await ach.run_cutoff(env.deps, day)
    [report] = env.bank.poll_once()
    good = (Path(env.settings.ach_returns_dir) / report["return_file"])
    text = good.read_text()
    held = Path(env.settings.ach_returns_dir).parent / "held.ach"
    good.rename(held)
    bad = Path(env.settings.ach_returns_dir) / "RETURNS_BROKEN.ach"
    lines = text.split("\n")
    ctrl = next(i for i, ln in enumerate(lines) if ln.startswith("8"))
    lines[ctrl] = lines[ctrl][:20] + str(int(lines[ctrl][20:32]) + 1).zfill(12) + lines[ctrl][32:]
    bad.write_text("\n".join(lines))
    cut = Path(env.settings.ach_returns_dir) / "RETURNS_CUT.ach"
    cut.write_text("\n".join(text.split("\n")[:5]) + "\n")
    summary = await ach.run_returns(env.deps, day)
    assert {r["file"] for r in summary["rejected"]} == {"RETURNS_BROKEN.ach", "RETURNS_CUT.ach"}
    assert any("batch control" in r["error"] for r in summary["rejected"])
    for p in (a, b):
        assert (await _payment(env, p["payment_id"]))["status"] == "originated"
        assert await env.events("payment.returned", p["ban"]) == []
    rejected = await env.pool.fetchval("SELECT count(*) FROM ach_rejected_files")
    assert rejected >= 2
    bad.unlink()
    cut.unlink()
    held.rename(good)
    summary = await ach.run_returns(env.deps, day)
    assert summary["returns"] == 2 and summary["rejected"] == []
    assert (await _payment(env, a["payment_id"]))["status"] == "returned"
