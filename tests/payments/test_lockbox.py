"""Checks and money orders through the running payments service (real PostgreSQL and
Kafka): a lockbox file recorded once however often and however concurrently it is
imported, a bad file refused whole, an unknown account's item held, a counter item."""
from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from services.payments import cli_lockbox
from services.payments.domain.lockbox import COLUMNS, Refused
from services.payments.service_layer import lockbox
from tests.payments.conftest import new_ban

DAY = date(2026, 4, 7)
DEPOSITED = "2026-04-06"


def write_file(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(COLUMNS)] + [",".join(r[c] for c in COLUMNS) for r in rows]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def row(batch: str, seq: int, ban: str, amount: str, number: str, kind: str = "check") -> dict[str, str]:
    return {"batch_id": batch, "item_sequence": str(seq), "deposit_date": DEPOSITED,
            "billing_account_number": ban, "amount": amount, "check_number": number,
            "kind": kind, "payer_name": "Maria Santos"}


def batch_id() -> str:
    return str(int(new_ban()[1:9]))  # random per test: items are unique per batch and day


async def payments_of(env, ban: str) -> list:
    return await env.pool.fetch("SELECT * FROM payments WHERE billing_account_number = $1", ban)


async def test_a_file_of_three_items_is_applied_once_however_often_it_is_imported(payments_env, tmp_path):
    env = payments_env
    env.clock.set(DAY)
    bans = [new_ban(), new_ban()]
    await env.open_account(bans[0], {2025: 10000, 2026: 30000})
    await env.open_account(bans[1], {2026: 20000})
    batch = batch_id()
    path = write_file(tmp_path / "LBX_20260406.csv", [
        row(batch, 1, bans[0], "310.00", "1234"), row(batch, 2, bans[0], "20.00", "88"),
        row(batch, 3, bans[1], "200.00", "555000123", "money_order")])

    # Two operators at once, then the same file a third time.
    first, second = await asyncio.gather(lockbox.import_file(env.deps, path, DAY),
                                         lockbox.import_file(env.deps, path, DAY))
    assert sorted([first.get("already_imported", False), second.get("already_imported", False)]) == [False, True]
    done = first if not first.get("already_imported") else second
    assert (done["items"], done["applied"], done["unapplied"], done["total_cents"]) == (3, 3, 0, 53000)
    out: list[str] = []
    again = await lockbox.import_file(env.deps, path, DAY, out.append)
    assert again["already_imported"] and "already imported" in out[-1]

    rows = await payments_of(env, bans[0]) + await payments_of(env, bans[1])
    assert len(rows) == 3
    assert {(r["rail"], r["channel"], r["status"], r["method_id"], r["settled_on"]) for r in rows} == {
        ("lockbox", "lockbox", "settled", None, date(2026, 4, 6))}
    # No NACHA entry: nothing for the ACH cutoff to pick up.
    assert all(r["ach_file_id"] is None and r["trace_number"] is None for r in rows)

    settled = await env.events("payment.settled", bans[0]) + await env.events("payment.settled", bans[1])
    submitted = await env.events("payment.submitted", bans[0]) + await env.events("payment.submitted", bans[1])
    assert len(settled) == len(submitted) == 3
    big = next(e for e in submitted if e["amount_cents"] == 31000)
    assert big["channel"] == "lockbox" and big["kind"] == "one_time"
    assert big["method"] == {"type": "check", "last4": "1234"}
    # Split like a payment of the total: the oldest coverage year first.
    assert big["allocations"] == [{"coverage_year": 2025, "amount_cents": 10000},
                                  {"coverage_year": 2026, "amount_cents": 21000}]
    assert {e["method"]["last4"] for e in settled} == {"1234", "0088", "0123"}
    assert next(e for e in settled if e["amount_cents"] == 20000)["method"]["type"] == "money_order"
    assert {e["settled_on"] for e in settled} == {DEPOSITED}

    # A second file from the bank that repeats an item already recorded pays it no second time.
    more = write_file(tmp_path / "LBX_20260406_2.csv", [row(batch, 3, bans[1], "200.00", "555000123",
                                                            "money_order"),
                                                        row(batch, 4, bans[1], "5.00", "9")])
    result = await lockbox.import_file(env.deps, more, DAY)
    assert (result["applied"], result["already"]) == (1, 1)
    assert len(await payments_of(env, bans[1])) == 2


async def test_a_file_with_a_bad_line_is_refused_whole_with_its_line_number(payments_env, tmp_path):
    env = payments_env
    env.clock.set(DAY)
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    batch = batch_id()
    bad_ban = ban[:-1] + str((int(ban[-1]) + 1) % 10)
    path = write_file(tmp_path / "bad.csv", [row(batch, 1, ban, "100.00", "1"),
                                             row(batch, 2, bad_ban, "100.00", "2"),
                                             row(batch, 3, ban, "1,00", "3")])
    out: list[str] = []
    result = await lockbox.import_file(env.deps, path, DAY, out.append)
    assert result["refused"][0].startswith("line 3, billing_account_number:")
    assert any("REFUSED, nothing recorded" in line for line in out)
    assert await payments_of(env, ban) == []
    assert await env.pool.fetchval("SELECT count(*) FROM lockbox_items WHERE batch_id = $1", batch) == 0
    assert await env.pool.fetchval("SELECT count(*) FROM lockbox_files WHERE file_name = 'bad.csv'") == 0
    assert await env.events("payment.submitted", ban) == []

    # The operator's command says so and exits 2; the file fixed is then imported.
    code = await asyncio.to_thread(cli_lockbox.main, ["import", str(path), "--date", DAY.isoformat()],
                                   env.settings)
    assert code == 2
    write_file(path, [row(batch, 1, ban, "100.00", "1"), row(batch, 2, ban, "100.00", "2")])
    code = await asyncio.to_thread(cli_lockbox.main, ["import", str(path), "--date", DAY.isoformat()],
                                   env.settings)
    assert code == 0 and len(await payments_of(env, ban)) == 2


async def test_an_item_for_an_unknown_account_is_held_unapplied_and_listed(payments_env, tmp_path, capsys):
    env = payments_env
    env.clock.set(DAY)
    known, unknown = new_ban(), new_ban()
    await env.open_account(known, {2026: 20000})
    batch = batch_id()
    path = write_file(tmp_path / "mixed.csv", [row(batch, 1, known, "50.00", "10"),
                                               row(batch, 2, unknown, "75.25", "4321")])
    result = await lockbox.import_file(env.deps, path, DAY)
    assert (result["applied"], result["unapplied"]) == (1, 1)
    assert await payments_of(env, unknown) == []
    assert await env.events("payment.submitted", unknown) == []
    [held] = [r for r in await lockbox.unapplied_items(env.deps) if r["billing_account_number"] == unknown]
    assert (held["amount_cents"], held["check_number"], held["reason"]) == (7525, "4321", "unknown_account")

    capsys.readouterr()
    assert await asyncio.to_thread(cli_lockbox.main, ["unapplied"], env.settings) == 0
    listed = capsys.readouterr().out
    assert unknown in listed and "$75.25" in listed and f"batch {batch} item 2" in listed


async def test_a_check_taken_at_the_counter_is_recorded_once(payments_env):
    env = payments_env
    env.clock.set(DAY)
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    fields = {"billing_account_number": ban, "amount": "80.00", "check_number": "3141",
              "kind": "check", "payer_name": "Pat Tester", "deposit_date": DAY.isoformat()}
    first = await lockbox.record_item(env.deps, fields, DAY)
    again = await lockbox.record_item(env.deps, fields, DAY)
    assert (first.status, again.status) == ("applied", "already")
    [payment] = await payments_of(env, ban)
    assert payment["confirmation_number"] == first.confirmation_number
    assert payment["amount_cents"] == 8000 and payment["method_last4"] == "3141"
    with pytest.raises(Refused) as refused:
        await lockbox.record_item(env.deps, {**fields, "amount": "80", "check_number": "x"}, DAY)
    assert {p.field for p in refused.value.problems} == {"amount", "check_number"}
    [event] = await env.events("payment.settled", ban)
    assert event["method"] == {"type": "check", "last4": "3141"}
