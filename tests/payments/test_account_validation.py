"""Account validation of a bank account new to the system (Nacha's WEB debit rule), walked
through the business dates with the ACH jobs and the bank sandbox: a prenote in the first
file, debits only after its waiting period (or with it, to meet a due date), returns and
NOCs on validation entries; micro-entries the member confirms (a wrong answer refused)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sandboxes.bank import validate
from services.payments.service_layer import ach
from tests.payments.conftest import bank_method, new_account, new_ban

ACCOUNT_VALIDATION = "prenote"  # the service's configuration (conftest); micro tests switch it

MON, TUE, WED, THU, FRI = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
NEXT_MON, NEXT_TUE = date(2026, 3, 9), date(2026, 3, 10)


async def _pay(env, account: str, due: date = date(2026, 3, 23), cents: int = 31200) -> dict:
    ban = new_ban()
    await env.open_account(ban, {2026: cents}, due=due)
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(account)})
    assert status == 201, body
    [method] = (await (await env.client.get(f"/accounts/{ban}/methods")).json())["methods"]
    return {"ban": ban, "method_id": method["method_id"], **body}


async def _status(env, p: dict) -> str:
    return (await (await env.client.get(f"/payments/{p['payment_id']}")).json())["status"]


def _entries(result: dict) -> list[tuple[str, str, str, int, str]]:
    """(batch description, transaction code, account, cents, billing account) of each entry
    of the day's file, as the bank reads it."""
    text = Path(result["path"]).read_text()
    validate(text)  # the bank accepts the file
    out, description = [], ""
    for line in text.splitlines():
        if line[0] == "5":
            description = line[53:63].strip()
        elif line[0] == "6":
            out.append((description, line[1:3], line[12:29].strip(), int(line[29:39]), line[39:54].strip()))
    return out


def _of(entries, ban: str) -> list[tuple[str, str, int]]:
    return [(d, code, cents) for d, code, _, cents, who in entries if who == ban]


@pytest.fixture
def micro_entries(payments_env):
    payments_env.deps.settings.account_validation = "micro_entries"
    yield
    payments_env.deps.settings.account_validation = ACCOUNT_VALIDATION


async def test_prenote_then_the_first_debit_after_the_waiting_period(payments_env):
    env = payments_env
    env.clock.set(MON)
    good = await _pay(env, new_account("00"))
    bad = await _pay(env, new_account("03"))
    noc_account = new_account("55")
    noc = await _pay(env, noc_account)
    # The member is told when the validation goes and when the debit follows.
    told = good["account_validation"]
    assert told == {"kind": "prenote", "entries_sent_on": "2026-03-02", "entries_arrive_on": "2026-03-03",
                    "debit_with_validation": False, "first_debit_on": "2026-03-09"}
    [started] = await env.events("account.validation_started", good["ban"])
    assert started["kind"] == "prenote" and started["method"]["type"] == "checking"

    # File N (Monday): the zero-dollar prenotes only, transaction code 28; the debits wait.
    monday = await ach.run_cutoff(env.deps, MON)
    entries = _entries(monday)
    for p in (good, bad, noc):
        assert _of(entries, p["ban"]) == [("PREMIUM", "28", 0)]
        assert await _status(env, p) == "pending"
    [report] = env.bank.poll_once()
    assert report["status"] == "accepted" and (report["returns"], report["nocs"]) == (1, 1)

    # Tuesday: the bank's answers. R03: the account is invalid, the waiting debit fails,
    # the member is told. C01: the account number is corrected as the bank asks.
    summary = await ach.run_returns(env.deps, TUE)
    assert (summary["returns"], summary["nocs"], summary["rejected"]) == (1, 1, [])
    [failed] = await env.events("account.validation_failed", bad["ban"])
    assert (failed["reason"], failed["return_code"], failed["failed_on"]) == ("returned", "R03", "2026-03-03")
    [pay_failed] = await env.events("payment.failed", bad["ban"])
    assert pay_failed["payment_id"] == bad["payment_id"]
    assert await _status(env, bad) == "failed"
    methods = (await (await env.client.get(f"/accounts/{bad['ban']}/methods")).json())["methods"]
    assert methods[0]["status"] == "disabled"
    [_, corrected] = await env.events("method.updated", noc["ban"])
    assert corrected["status"] == "corrected" and corrected["method"]["last4"] == noc_account[-4:-2] + "56"
    for day in (TUE, WED, THU):  # no live debit before the third banking day after settlement
        result = await ach.run_cutoff(env.deps, day)
        assert result["entries"] == 0
        assert await _status(env, good) == "pending"
    assert await env.events("account.validated", good["ban"]) == []

    # Friday (settlement Tuesday + 3 banking days): validated, the first debit goes.
    friday = await ach.run_cutoff(env.deps, FRI)
    [validated] = await env.events("account.validated", good["ban"])
    assert (validated["kind"], validated["validated_on"]) == ("prenote", "2026-03-06")
    assert _of(_entries(friday), good["ban"]) == [("PREMIUM", "27", 31200)]
    assert await _status(env, good) == "originated"
    env.bank.poll_once()
    await ach.run_settlement(env.deps, NEXT_MON)
    [settled] = await env.events("payment.settled", good["ban"])
    assert settled["settled_on"] == "2026-03-09" and settled["amount_cents"] == 31200
    # The NOC's account was validated by the bank's correction: its debit went too, to the
    # corrected number.
    assert [(c, n) for _, c, a, n, who in _entries(friday) if who == noc["ban"]] == [("27", 31200)]
    assert [a for _, _, a, _, who in _entries(friday) if who == noc["ban"]] == [noc_account[:-2] + "56"]
    # No event names the full account number.
    for kind in ("account.validation_started", "account.validated", "account.validation_failed"):
        for p in (good, bad, noc):
            for e in await env.events(kind, p["ban"]):
                assert noc_account not in str(e) and "account_number" not in e


async def test_a_binder_due_before_the_waiting_period_goes_with_the_prenote(payments_env):
    env = payments_env
    monday = date(2026, 3, 16)
    env.clock.set(monday)
    # Due Wednesday the 18th: waiting for the prenote would settle the debit on the 23rd.
    p = await _pay(env, new_account("00"), due=date(2026, 3, 18))
    assert p["account_validation"]["debit_with_validation"] is True
    assert p["account_validation"]["first_debit_on"] == "2026-03-17"
    result = await ach.run_cutoff(env.deps, monday)
    assert sorted(_of(_entries(result), p["ban"])) == [("PREMIUM", "27", 31200), ("PREMIUM", "28", 0)]
    assert await _status(env, p) == "originated"
    [report] = env.bank.poll_once()
    assert report["status"] == "accepted" and report["returns"] == 0


async def test_micro_entries_confirmed_then_debited_and_a_wrong_answer_refused(payments_env, micro_entries):
    env = payments_env
    day = date(2026, 4, 6)  # a Monday
    env.clock.set(day)
    p = await _pay(env, new_account("00"))
    other = await _pay(env, new_account("00"))
    assert p["account_validation"]["kind"] == "micro_entries"
    result = await ach.run_cutoff(env.deps, day)
    entries = _entries(result)
    mine = _of(entries, p["ban"])
    # Two credits under $1 (22) and their offsetting debit (27), no larger than the credits.
    assert [(d, c) for d, c, _ in mine] == [("ACCTVERIFY", "22"), ("ACCTVERIFY", "22"), ("ACCTVERIFY", "27")]
    a, b, offset = (cents for _, _, cents in mine)
    assert 0 < a < 100 and 0 < b < 100 and a != b and offset == a + b
    assert await _status(env, p) == "pending"
    [sent] = await env.events("account.micro_entries_sent", p["ban"])
    assert sent["available_on"] == "2026-04-07" and sent["tries_max"] == 3
    assert "amounts" not in sent and "micro_cents" not in sent
    [report] = env.bank.poll_once()
    assert report["status"] == "accepted" and report["returns"] == 0

    url = f"/accounts/{p['ban']}/methods/{p['method_id']}/validation"
    # Before the credits arrive there is nothing to confirm.
    r = await env.client.post(url, json={"amounts": [f"0.{a:02d}", f"0.{b:02d}"]})
    assert r.status == 409 and (await r.json())["error"]["code"] == "no_validation"

    env.clock.set(date(2026, 4, 7))
    status = await (await env.client.get(url)).json()
    assert status["can_confirm"] and status["tries_left"] == 3
    # A wrong answer is refused; it costs one try and nothing else.
    wrong = (a % 99) + 1 if (a % 99) + 1 != b else (b % 99) + 1
    r = await env.client.post(url, json={"amounts": [f"0.{wrong:02d}", f"0.{b:02d}"]})
    body = await r.json()
    assert r.status == 422 and "Tries left: 2" in body["error"]["fields"]["amounts"]
    assert await _status(env, p) == "pending"
    r = await env.client.post(url, json={"amounts": ["1.50", "x"]})
    assert r.status == 422
    r = await env.client.post(url, json={"amounts": ["٠.١٢", "0.12"]})  # not ASCII digits
    assert r.status == 422
    # The right amounts, in either order: validated; the debit goes in the next file.
    r = await env.client.post(url, json={"amounts": [f"0.{b:02d}", f".{a:02d}"]})
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "validated"
    [validated] = await env.events("account.validated", p["ban"])
    assert validated["kind"] == "micro_entries" and validated["validated_on"] == "2026-04-07"
    tuesday = await ach.run_cutoff(env.deps, date(2026, 4, 7))
    assert _of(_entries(tuesday), p["ban"]) == [("PREMIUM", "27", 31200)]
    assert await _status(env, p) == "originated"
    [report] = env.bank.poll_once()
    assert report["status"] == "accepted" and report["returns"] == 0
    # The other account is still waiting for its member.
    assert await _status(env, other) == "pending"

    # Three wrong answers: the validation fails, the method is disabled, the debit fails.
    url2 = f"/accounts/{other['ban']}/methods/{other['method_id']}/validation"
    oa, ob, _ = (cents for _, _, cents in _of(entries, other["ban"]))
    bad = [x for x in range(1, 100) if x not in (oa, ob)][:2]
    for left in (2, 1):
        r = await env.client.post(url2, json={"amounts": [f"0.{bad[0]:02d}", f"0.{bad[1]:02d}"]})
        assert r.status == 422 and f"Tries left: {left}" in (await r.json())["error"]["fields"]["amounts"]
    r = await env.client.post(url2, json={"amounts": [f"0.{bad[0]:02d}", f"0.{bad[1]:02d}"]})
    assert r.status == 200 and (await r.json())["status"] == "failed"
    [failed] = await env.events("account.validation_failed", other["ban"])
    assert failed["reason"] == "tries_exhausted" and failed["return_code"] is None
    assert await _status(env, other) == "failed"
    r = await env.client.post(url2, json={"amounts": [f"0.{oa:02d}", f"0.{ob:02d}"]})
    assert r.status == 409  # too late: the right answer now changes nothing


async def test_micro_entries_returned_r04_mark_the_account_invalid(payments_env, micro_entries):
    env = payments_env
    day = date(2026, 4, 13)
    env.clock.set(day)
    p = await _pay(env, new_account("04"))
    await ach.run_cutoff(env.deps, day)
    [report] = env.bank.poll_once()
    assert report["returns"] == 3  # both credits and the offsetting debit
    summary = await ach.run_returns(env.deps, date(2026, 4, 14))
    assert summary["rejected"] == [] and summary["returns"] == 3
    [failed] = await env.events("account.validation_failed", p["ban"])
    assert (failed["kind"], failed["reason"], failed["return_code"]) == ("micro_entries", "returned", "R04")
    assert await _status(env, p) == "failed"
