"""ACH jobs: the daily cutoff (pending bank debits -> one NACHA file per business date), the
same-day files of binders that must settle by their due date (one per window),
settlement on the effective date (`payment.settled`) and return/NOC intake
(`payment.returned`, retries, disabled methods, cancelled mandates, corrected details)."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.payments.adapters import ach_store, refund_store, validation_store
from services.payments.adapters import repository as repo
from services.payments.adapters.ach_archive import ArchiveError
from services.payments.domain import nacha, same_day, schedule
from services.payments.domain.returns import decide_return
from services.payments.service_layer import account_validation, corrections, events, refunds, return_rates
from services.payments.service_layer.deps import Deps
from shared import locks
from shared.calendar import add_banking_days, is_banking_day
from shared.db import advisory_lock
from shared.files import open_private, private_dir
from shared.outbox import enqueue_many

Progress = Callable[[str], None]
log = logging.getLogger(__name__)
# An operator alerts on any increase: a debit on file that the NACHA format cannot carry
# (a corrupted or hand-edited method) was held out of the day's file and failed.
HELD_OUT = Counter("payments_ach_entries_held_out_total",
                   "Debits held out of the ACH file because they could not be written, by field",
                   ["field"])
HELD_OUT_CODE = "ach_entry_unwritable"
HELD_OUT_REASON = ("the bank account details on file could not be sent to the bank; "
                   "please pay again with a bank account or card")


def _quiet(_: str) -> None:
    pass


def file_name(day: date, window: same_day.Window | None = None) -> str:
    """The day's standard file ends in A; a same-day window's in B, C or D."""
    return f"PAYMENTS_{day:%Y%m%d}_{window.file_id_modifier if window else 'A'}.ach"


async def run_cutoff(deps: Deps, day: date, progress: Progress = _quiet) -> dict:
    """Writes the day's NACHA file of every pending bank debit submitted by `day`; a second
    run for the same date finds the file recorded and changes nothing."""
    return await _run_file(deps, day, None, progress)


async def run_same_day(deps: Deps, day: date, window: int, progress: Progress = _quiet) -> dict:
    """Writes the same-day file of `window` (1, 2, 3) for `day`: the binder debits given
    that window or an earlier one still waiting, effective (withdrawn) that day, with the
    validation entries of their accounts; a second run changes nothing."""
    w = same_day.window_numbered(deps.settings.same_day_windows, window)
    if w is None:
        progress(f"same-day window {window} is not configured (PAYMENTS_ACH_SAME_DAY_WINDOWS); nothing done")
        return {"file": None, "entries": 0}
    return await _run_file(deps, day, w, progress)


async def _run_file(deps: Deps, day: date, window: same_day.Window | None, progress: Progress) -> dict:
    if not is_banking_day(day):
        progress(f"{day}: not a banking day; pending debits wait for the next cutoff")
        return {"file": None, "entries": 0}
    out_dir = private_dir(Path(deps.settings.ach_outbound_dir))
    async with deps.pool.acquire() as conn, advisory_lock(conn, locks.PAYMENTS_CUTOFF) as got:
        if not got:
            progress("another cutoff run holds the lock; nothing done")
            return {"file": None, "entries": 0, "busy": True}
        try:
            return await _cutoff(conn, deps, day, out_dir, progress, window)
        except _NothingToSend:
            return {"file": None, "entries": 0}


async def _cutoff(conn: asyncpg.Connection, deps: Deps, day: date, out_dir: Path,
                  progress: Progress, window: same_day.Window | None = None) -> dict:
    s = deps.settings
    number = window.number if window else 0
    what = f"same-day window {number} ({window.descriptive_date})" if window else "cutoff"
    existing = await ach_store.file_of_date(conn, day, number)
    if existing is not None:
        progress(f"{day}: file {existing['file_name']} already made ({existing['entries']} entries); "
                 "nothing to do")
        return {"file": existing["file_name"], "entries": existing["entries"], "already": True}
    name = file_name(day, window)
    target, tmp = out_dir / name, out_dir / (name + ".part")
    started = time.perf_counter()
    async with conn.transaction():
        file_id = await ach_store.open_file(conn, day, name, number)
        odfi8 = s.ach_odfi_routing[:8]
        if window is None:
            await account_validation.before_cutoff(conn, day, progress)
            count = await ach_store.assign_to_file(conn, file_id, day, add_banking_days(day, 1), odfi8)
        else:
            count = await ach_store.assign_same_day(conn, file_id, day, number, odfi8)
        extra = await account_validation.file_entries(conn, deps, day, file_id, progress,
                                                      same_day=window is not None)
        count += len(extra)
        if count == 0:
            progress(f"{day}: no pending bank debits for the {what}; no file")
            raise _NothingToSend
        progress(f"{day}: {count} debits into {name} ({what})")
        origin = nacha.Origin(s.ach_odfi_routing, s.ach_destination_name, s.ach_company_name,
                              s.ach_company_id)
        sha = hashlib.sha256()
        try:
            totals, held = await _write(conn, deps, origin, file_id, count, tmp, sha, progress, extra,
                                        window)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        assert totals["entries"] + len(held) == count
        await _fail_held_out(conn, held, progress)
        if totals["entries"] == 0:
            tmp.unlink(missing_ok=True)
            await ach_store.drop_file(conn, file_id)
            progress(f"{day}: every debit was held out; no file")
            return {"file": None, "entries": 0, "held_out": len(held)}
        try:
            deps.archive.store_file(name, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        await ach_store.close_file(conn, file_id, sha.hexdigest(), totals)
        os.replace(tmp, target)  # the bank sees the file only once it is whole
    totals["held_out"] = len(held)
    elapsed = time.perf_counter() - started
    progress(f"done: {name}: {totals['entries']} entries in {totals['batches']} batches, "
             f"debits {totals['debit_cents'] / 100:,.2f}, entry hash {totals['entry_hash']} "
             f"({elapsed:.1f} s)")
    return {"file": name, "path": str(target), **totals}


async def _write(conn: asyncpg.Connection, deps: Deps, origin: nacha.Origin, file_id: int,
                 count: int, tmp: Path, sha, progress: Progress,
                 extra: list[tuple[date, nacha.Entry]] | None = None,
                 window: same_day.Window | None = None) -> tuple[dict, list[tuple[Any, str]]]:
    """Streams the file's entries (account numbers decrypted one at a time) into `tmp`,
    created owner-only as it holds full account numbers; an entry the format cannot carry
    is left out, and returned as (payment id, field)."""
    held: list[tuple[Any, str]] = []
    with open_private(tmp, "w", encoding="ascii", newline="") as f:
        def write(text: str) -> None:
            f.write(text)
            sha.update(text.encode("ascii"))
        writer = nacha.NachaWriter(origin, deps.clock(), window.file_id_modifier if window else "A",
                                   write, deps.settings.ach_batch_entries_max,
                                   descriptive_date=window.descriptive_date if window else None)
        done = 0
        async for r in ach_store.file_entries(conn, file_id):
            account = deps.cipher.decrypt(r["account_ciphertext"], r["key_id"], r["method_id"])
            try:
                writer.add(r["effective_date"], nacha.Entry(
                    r["type"], r["routing_number"] or "", account, r["amount_cents"],
                    r["billing_account_number"], r["holder_name"] or "", int(r["trace_number"][8:]),
                    r["channel"] == "autopay"))
            except nacha.UnwritableEntry as exc:
                held.append((r["payment_id"], exc.field))
            done += 1
            if done % 100_000 == 0:
                progress(f"  {done}/{count} entries written")
        for effective, entry in extra or []:  # account validation entries, checked when made
            writer.add(effective, entry)
        totals = writer.finish()
        f.flush()
        os.fsync(f.fileno())
    return totals, held


async def _fail_held_out(conn: asyncpg.Connection, held: list[tuple[Any, str]],
                         progress: Progress) -> None:
    """Each held-out debit fails the normal way (`payment.failed`: billing and the member
    hear of it), counted for the operator and logged without any account number."""
    for payment_id, field in held:
        p = await ach_store.hold_out(conn, payment_id, HELD_OUT_CODE)
        await events.enqueue(conn, events.failed(p, HELD_OUT_CODE, HELD_OUT_REASON))
        HELD_OUT.labels(field).inc()
        log.error("ACH debit held out of the file: it cannot be written",
                  extra={"payment_id": str(payment_id), "field": field,
                         "billing_account_number": p["billing_account_number"]})
        progress(f"  held out payment {payment_id}: its {field} cannot be written; payment failed")


class _NothingToSend(Exception):
    pass


async def run_settlement(deps: Deps, day: date, progress: Progress = _quiet,
                         batch: int = 5000) -> dict:
    """Originated debits whose effective date has come are settled: `payment.settled`."""
    settled = 0
    while True:
        async with deps.pool.acquire() as conn, conn.transaction():
            rows = await ach_store.settle_batch(conn, day, batch)
            await enqueue_many(conn, (events.settled_envelope(r, r["settled_on"]) for r in rows))
        settled += len(rows)
        if len(rows) < batch:
            break
        progress(f"  {settled} settled")
    progress(f"settlement {day}: {settled} payments settled")
    return {"settled": settled}


# ------------------------------------------------------------------ returns
async def run_returns(deps: Deps, day: date, progress: Progress = _quiet,
                      directory: Path | None = None) -> dict:
    """Reads every return file in the returns folder. Each file is one transaction: all of
    it applies, or (malformed, unknown trace number) none of it and it is recorded as
    rejected. A file read before (same SHA-256) is skipped."""
    folder = private_dir(Path(directory or deps.settings.ach_returns_dir))
    summary = {"files": 0, "returns": 0, "nocs": 0, "already_read": 0, "rejected": []}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".part")):
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        async with deps.pool.acquire() as conn:
            if await ach_store.return_file_seen(conn, sha):
                summary["already_read"] += 1
                continue
            try:
                async with conn.transaction():
                    counts = await _apply_file(conn, deps, day, path.name, sha, raw)
                    if counts is not None:
                        deps.archive.store(path.name, raw)
            except nacha.MalformedFile as exc:
                await ach_store.record_rejected_file(conn, sha, path.name, str(exc))
                summary["rejected"].append({"file": path.name, "error": str(exc)})
                progress(f"{path.name}: REJECTED, nothing applied: {exc}")
                continue
        if counts is None:
            summary["already_read"] += 1
            continue
        summary["files"] += 1
        summary["returns"] += counts[0]
        summary["nocs"] += counts[1]
        progress(f"{path.name}: {counts[0]} returns, {counts[1]} notifications of change")
    progress(f"returns {day}: {summary['files']} files, {summary['returns']} returns, "
             f"{summary['nocs']} NOCs, {summary['already_read']} already read, "
             f"{len(summary['rejected'])} rejected")
    # The rates move with each day's returns (and with the entries the window lets go).
    summary["return_rates"] = {r.category.name: r.level
                               for r in await return_rates.evaluate(deps.pool, day, progress)}
    return summary


async def _apply_file(conn: asyncpg.Connection, deps: Deps, day: date, name: str, sha: str,
                      raw: bytes) -> tuple[int, int] | None:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise nacha.MalformedFile("the file is not ASCII text") from None
    items = nacha.parse_return_file(text)
    returns = sum(1 for i in items if i.kind == "return")
    if not await ach_store.record_return_file(conn, sha, name, day, returns, len(items) - returns):
        return None  # another reader got it first
    for item in items:
        validation = await validation_store.by_trace(conn, item.original_trace)
        if validation is not None:
            await account_validation.on_item(conn, deps, day, validation, item)
            continue
        payment = await ach_store.payment_by_trace(conn, item.original_trace)
        if payment is None and await _refund_item(conn, deps, day, item):
            continue
        if payment is None:
            raise nacha.MalformedFile(f"trace number {item.original_trace} matches no payment we sent")
        if item.kind == "return":
            await _apply_return(conn, deps, day, payment, item.code)
        else:
            await _apply_noc(conn, deps, payment, item)
    return returns, len(items) - returns


async def _refund_item(conn: asyncpg.Connection, deps: Deps, day: date, item: nacha.ReturnItem) -> bool:
    """A return or NOC of one of our refund credits (refunds.py); False if the trace is none."""
    refund = await refund_store.by_trace(conn, item.original_trace)
    if refund is None:
        return False
    if item.kind == "return":
        await refunds.apply_return(conn, day, refund, item.code)
    else:
        await _apply_noc(conn, deps, refund, item)
    return True


async def _apply_return(conn: asyncpg.Connection, deps: Deps, day: date, p: asyncpg.Record,
                        code: str) -> None:
    if p["status"] == "returned":
        return  # the same return in another file: applied once
    mandate = await ach_store.mandate(conn, p["mandate_id"]) if p["mandate_id"] else None
    active = mandate is not None and mandate["status"] == "active"
    d = decide_return(code, p["attempt"], deps.settings.ach_retries_max, active)
    p2 = await repo.set_payment(conn, p["payment_id"], status="returned", returned_on=day,
                                return_code=code)
    follow = []
    if d.method_disabled:
        m = await repo.set_method_status(conn, p["method_id"], "disabled", f"{code}: {d.reason}")
        follow.append(events.method_updated(m, "disabled", f"{code}: {d.reason}"))
    cancelled = None
    if d.mandate_cancelled:
        cancelled = await repo.cancel_mandate(conn, p["mandate_id"], f"{code}: {d.reason}")
        if cancelled is not None:
            follow.append(events.autopay_cancelled(
                cancelled, f"{code}: {d.reason}", await repo.drafts_in_flight(conn, cancelled["mandate_id"])))
    if d.will_retry:
        retry = await repo.insert_payment(
            conn, payment_id=events.new_id(), confirmation_number=schedule.confirmation_number(),
            billing_account_number=p["billing_account_number"], plan_type=p["plan_type"],
            kind=p["kind"], channel=p["channel"], rail="ach", amount_cents=p["amount_cents"],
            allocations=p["allocations"], method_id=p["method_id"], method_type=p["method_type"],
            method_last4=p["method_last4"], method_brand=p["method_brand"], status="pending",
            submitted_on=day, expected_withdrawal_date=add_banking_days(day, 2),
            mandate_id=p["mandate_id"], cycle=p["cycle"], attempt=p["attempt"] + 1,
            retry_of=p["retry_of"] or p["payment_id"], contact=p["contact"], member_id=p["member_id"],
            payer_kind=p["payer_kind"], payer_name=p["payer_name"], payer_email=p["payer_email"])
        follow.append(events.submitted(retry))
    await events.enqueue(conn, events.returned(p2, code, d.reason, day, d.will_retry, d.method_disabled,
                                        cancelled is not None), *follow)


async def _apply_noc(conn: asyncpg.Connection, deps: Deps, p: asyncpg.Record, item: nacha.ReturnItem) -> None:
    await corrections.correct_method(conn, deps, p["method_id"], item)


# ------------------------------------------------------------------ archive
async def verify_archive(deps: Deps, progress: Progress = _quiet) -> dict:
    """Reconciles the encrypted archive with the files recorded: every NACHA file sent and
    every return file read decrypts to the SHA-256 recorded when it was written or read."""
    archive = deps.archive
    async with deps.pool.acquire() as conn:
        rows = await ach_store.archived_files(conn)
    problems = []
    for r in rows:
        try:
            ok = archive.sha256(r["file_name"]) == r["sha256"]
        except ArchiveError as exc:
            problems.append({"file": r["file_name"], "error": str(exc)})
            continue
        if not ok:
            problems.append({"file": r["file_name"], "error": "SHA-256 differs from the one recorded"})
    progress(f"archive: {len(rows)} files, {len(problems)} problems")
    return {"files": len(rows), "problems": problems}
