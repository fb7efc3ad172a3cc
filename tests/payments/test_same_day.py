"""Deadline-aware binders, walked through the days before a binder's due date with the ACH
jobs and the bank sandbox: a binder the usual dates would withdraw after its due date goes
in the next file (settled the next banking day) or, when that is too late, as Same Day ACH
in the window still open, with its new account's prenote; the member is told the date; a
same-day debit whose window's file never went falls back to the day's standard file."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from sandboxes.bank import validate
from services.payments.service_layer import ach
from tests.payments.conftest import bank_method, new_account, new_ban

ACCOUNT_VALIDATION = "prenote"  # a binder is most often paid from an account new to us

MON, TUE, WED, THU = (date(2026, 9, d) for d in (21, 22, 23, 24))
DUE = WED


async def _pay(env, day: date, hour: int, *, binder: bool = True, cents: int = 41_250) -> dict:
    env.clock.set(day, hour)
    ban = new_ban()
    await env.open_account(ban, {2026: cents}, due=DUE, binder=binder)
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(new_account("00"))})
    assert status == 201, body
    return {"ban": ban, **body}


async def _status(env, p: dict) -> tuple[str, str | None]:
    r = await (await env.client.get(f"/payments/{p['payment_id']}")).json()
    return r["status"], r.get("effective_date")


def _batches(result: dict) -> list[tuple[str, str, str, list[tuple[str, int, str]]]]:
    """(entry description, descriptive date, effective date, [(code, cents, billing
    account)]) of each batch of a file, as the bank reads it; the bank must accept it."""
    text = Path(result["path"]).read_text()
    validate(text)
    out: list = []
    for line in text.splitlines():
        if line[0] == "5":
            out.append((line[53:63].strip(), line[63:69], line[69:75], []))
        elif line[0] == "6":
            out[-1][3].append((line[1:3], int(line[29:39]), line[39:54].strip()))
    return out


def _of(result: dict, ban: str) -> list[tuple[str, str, str, int]]:
    """(descriptive date, effective date, code, cents) of an account's entries in a file."""
    return sorted((desc_date, eff, code, cents) for _, desc_date, eff, entries in _batches(result)
                  for code, cents, who in entries if who == ban)


async def test_binders_meet_their_due_date_by_the_next_file_or_same_day_ach(payments_env):
    env = payments_env
    # Tuesday 10:00 ET, before the cutoff: the usual date is Thursday, after the due date;
    # the day's own file settles it Wednesday, in time, at no extra cost.
    next_file = await _pay(env, TUE, 10)
    assert next_file["expected_withdrawal_date"] == "2026-09-23"
    assert next_file["binder_deadline"] == {"due_date": "2026-09-23", "same_day_ach": False}
    assert next_file["account_validation"] == {
        "kind": "prenote", "entries_sent_on": "2026-09-22", "entries_arrive_on": "2026-09-23",
        "debit_with_validation": True, "first_debit_on": "2026-09-23"}
    # A monthly premium due the same day is not a binder: its dates do not move.
    monthly = await _pay(env, TUE, 10, binder=False)
    assert monthly["expected_withdrawal_date"] == "2026-09-24" and "binder_deadline" not in monthly
    # Tuesday 18:00, after the cutoff: the next file settles Thursday, too late; Wednesday's
    # first same-day window (file at 10:00 ET, settled 13:00 ET) is in time.
    first_window = await _pay(env, TUE, 18)
    assert first_window["expected_withdrawal_date"] == "2026-09-23"
    assert first_window["binder_deadline"] == {"due_date": "2026-09-23", "same_day_ach": True}
    assert first_window["account_validation"]["entries_sent_on"] == "2026-09-23"
    [submitted] = await env.events("payment.submitted", first_window["ban"])
    assert submitted["same_day_ach"] is True and submitted["expected_withdrawal_date"] == "2026-09-23"
    [usual] = await env.events("payment.submitted", next_file["ban"])
    assert "same_day_ach" not in usual  # the wire leaves the flag out of every other payment

    # Tuesday's file: the next-file binder with its prenote, effective Wednesday; the
    # same-day one is not in it.
    tuesday = await ach.run_cutoff(env.deps, TUE)
    assert [(eff, code, cents) for _, eff, code, cents in _of(tuesday, next_file["ban"])] == \
        [("260923", "27", 41_250), ("260923", "28", 0)]
    assert _of(tuesday, first_window["ban"]) == []
    assert await _status(env, first_window) == ("pending", None)

    # Wednesday: window 1's file carries the same-day binder and its prenote, effective that
    # very day, the batch marked SD1300; the bank accepts it as same-day entries.
    env.clock.set(WED, 10)
    window_1 = await ach.run_same_day(env.deps, WED, 1)
    assert window_1["file"] == "PAYMENTS_20260923_B.ach"
    assert _of(window_1, first_window["ban"]) == [("SD1300", "260923", "27", 41_250),
                                                  ("SD1300", "260923", "28", 0)]
    assert await _status(env, first_window) == ("originated", "2026-09-23")
    assert (await ach.run_same_day(env.deps, WED, 1))["already"] is True  # once per window
    reports = {r["file"]: r for r in env.bank.poll_once()}
    assert reports["PAYMENTS_20260923_B.ach"]["status"] == "accepted"
    assert reports["PAYMENTS_20260923_B.ach"]["same_day_entries"] == 2

    # Wednesday 13:00: window 2 (file at 14:15, settled 17:00); 15:00: window 3.
    second_window = await _pay(env, WED, 13)
    third_window = await _pay(env, WED, 15)
    assert second_window["binder_deadline"]["same_day_ach"] is True
    assert third_window["expected_withdrawal_date"] == "2026-09-23"
    # 17:30: every window of the due date is past; nothing is promised that cannot be kept.
    too_late = await _pay(env, WED, 17)
    assert "binder_deadline" not in too_late and too_late["expected_withdrawal_date"] > "2026-09-23"

    env.clock.set(WED, 14)
    window_2 = await ach.run_same_day(env.deps, WED, 2)
    assert window_2["file"] == "PAYMENTS_20260923_C.ach"
    assert _of(window_2, second_window["ban"])[0] == ("SD1700", "260923", "27", 41_250)
    assert _of(window_2, third_window["ban"]) == []  # not its window
    # Window 3's file never went (say the service was down): the day's standard file takes
    # the debit rather than leave it waiting, effective the next banking day.
    env.clock.set(WED, 17)
    wednesday = await ach.run_cutoff(env.deps, WED)
    assert [(eff, code) for _, eff, code, _ in _of(wednesday, third_window["ban"])] == \
        [("260924", "27"), ("260924", "28")]
    assert await _status(env, third_window) == ("originated", "2026-09-24")
    assert all(r["status"] == "accepted" for r in env.bank.poll_once())

    # Settlement on the due date: the binders sent in time are settled on it.
    await ach.run_settlement(env.deps, WED)
    for p in (next_file, first_window, second_window):
        [settled] = await env.events("payment.settled", p["ban"])
        assert settled["settled_on"] == "2026-09-23"


async def test_a_same_day_window_not_configured_does_nothing(payments_env):
    env = payments_env
    windows = env.deps.settings.ach_same_day_windows
    env.deps.settings.ach_same_day_windows = "10:00"
    try:
        result = await ach.run_same_day(env.deps, THU, 2)
        assert result == {"file": None, "entries": 0}
        # With no windows at all, a binder too late for the next file keeps its usual date.
        env.deps.settings.ach_same_day_windows = ""
        p = await _pay(env, TUE, 18)
        assert "binder_deadline" not in p and p["expected_withdrawal_date"] == "2026-09-25"
    finally:
        env.deps.settings.ach_same_day_windows = windows
