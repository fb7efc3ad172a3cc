"""The bank sandbox: the receiving side of our ACH files, so the whole loop runs on one machine.

It polls the outbound folder (`SANDBOX_ACH_OUTBOUND_DIR`) for `*.ach` files, validates each
as a bank would, and answers with a return file in `SANDBOX_ACH_RETURNS_DIR` (named
`RETURNS_<original name>`), written whole (a `.part` file renamed) so a reader never sees
half of it, owner-only (0600, folders 0700) as it holds full account numbers. `GET /bank/` lists the files processed (JSON).

Validation (any defect rejects the whole file; nothing is returned for it, and the listing
shows the reason): every record 94 characters; records in order (1, then 5 / 6 / 8 batches,
then 9, then 9-padding); file header record size 094, blocking factor 10, format code 1;
batch headers SEC code WEB and service class 200, 220 or 225; entry transaction codes 22/27/32/37;
each receiving routing number's ABA check digit; batch control entry count, entry hash
(sum of the 8-digit routing numbers, last 10 digits) and debit/credit totals; file control
batch count, block count, entry count, entry hash and totals; a multiple of 10 records.
A same-day batch (Company Descriptive Date "SD" and the intended settlement time, HHMM)
must be effective the day the file was created, and none of its entries may be over
$1,000,000 (Nacha's per-entry limit for Same Day ACH); the listing counts its entries.

Return rules, by the last two digits of an entry's account number:
| ends in | answer |
|---|---|
| 01 | return R01 (insufficient funds) |
| 02 | return R02 (account closed) |
| 03 | return R03 (no account / unable to locate) |
| 04 | return R04 (invalid account number) |
| 07 | return R07 (authorization revoked) |
| 09 | return R09 (uncollected funds) |
| 10 | return R10 (customer advises not authorized) |
| 55 | notification of change C01: the correct account number is the same with 56 at the end |
| 66 | notification of change C05: the account is the other type (checking <-> savings) |
Every other entry is paid (no record). A file with no returns and no NOCs gets no return file.

Account validation entries (prenotes, transaction codes 28/38, and the micro-entries of a
batch whose Company Entry Description is ACCTVERIFY) are answered as a bank answers them:
only the account rules apply (02, 03, 04 return R02/R03/R04; 55 and 66 the NOCs above);
the funds and authorization rules (01, 07, 09, 10) are for live debits and do not.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from sandboxes.settings import SandboxSettings
from shared.files import private_dir, write_private_atomic
from shared.http import json_response
from shared.numbers import aba_ok

log = logging.getLogger("sandboxes.bank")
RECORD = 94
BANK_ROUTING = "091000019"   # the bank's own routing number in the file header
RULES = {"01": "R01", "02": "R02", "03": "R03", "04": "R04", "07": "R07", "09": "R09", "10": "R10"}
NOC_RULES = {"55": "C01", "66": "C05"}
RETURN_CODE_OF = {"27": "26", "37": "36", "22": "21", "32": "31", "28": "26", "38": "36"}
VALIDATION_RULES = ("02", "03", "04")  # the account rules that answer a validation entry


class Rejected(ValueError):
    pass




@dataclass
class Received:
    """One entry of an originated file, as the bank reads it."""
    tx_code: str
    routing: str
    account: str
    amount_cents: int
    individual_id: str
    name: str
    trace: str
    description: str = ""  # the batch's Company Entry Description

    @property
    def validation(self) -> bool:
        return self.tx_code in ("28", "38") or self.description == "ACCTVERIFY"


@dataclass
class ParsedFile:
    odfi_routing: str
    entries: list[Received] = field(default_factory=list)
    batches: int = 0
    debit_cents: int = 0
    credit_cents: int = 0
    entry_hash: int = 0
    same_day_entries: int = 0


SAME_DAY_LIMIT_CENTS = 100_000_000


def _num(line: str, a: int, b: int, no: int, what: str) -> int:
    if not line[a:b].isdigit():
        raise Rejected(f"line {no}: {what} is not numeric")
    return int(line[a:b])


def validate(text: str) -> ParsedFile:
    """The originated file, checked like a receiving bank checks it."""
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    for no, line in enumerate(lines, 1):
        if len(line) != RECORD:
            raise Rejected(f"line {no}: record length {len(line)}, expected {RECORD}")
    if not lines or lines[0][0] != "1":
        raise Rejected("line 1: no file header")
    h = lines[0]
    if h[34:37] != "094" or h[37:39] != "10" or h[39] != "1":
        raise Rejected("line 1: record size, blocking factor or format code is wrong")
    parsed = ParsedFile(odfi_routing=h[4:13].strip())
    i, n = 1, len(lines)
    f_entries = 0
    while i < n and lines[i][0] == "5":
        bh = lines[i]
        if bh[50:53] != "WEB" or bh[1:4] not in ("200", "220", "225"):
            raise Rejected(f"line {i + 1}: batch is not a WEB batch (service class 200, 220 or 225)")
        same_day = bh[63:65] == "SD" and bh[65:69].isdigit()
        if same_day and bh[69:75] != h[23:29]:
            raise Rejected(f"line {i + 1}: a same-day batch must be effective the day the file is sent")
        i += 1
        count = b_hash = debit = credit = 0
        while i < n and lines[i][0] == "6":
            e = lines[i]
            code = e[1:3]
            if code not in ("22", "27", "32", "37", "28", "38"):
                raise Rejected(f"line {i + 1}: transaction code {code} not accepted")
            if not aba_ok(e[3:12]):
                raise Rejected(f"line {i + 1}: routing number check digit is wrong")
            amount = _num(e, 29, 39, i + 1, "amount")
            if same_day and amount > SAME_DAY_LIMIT_CENTS:
                raise Rejected(f"line {i + 1}: a Same Day ACH entry over $1,000,000")
            parsed.same_day_entries += same_day
            count += 1
            b_hash += int(e[3:11])
            if code in ("27", "37"):
                debit += amount
            else:
                credit += amount
            parsed.entries.append(Received(code, e[3:12], e[12:29].strip(), amount,
                                           e[39:54].strip(), e[54:76].strip(), e[79:94],
                                           bh[53:63].strip()))
            i += 1
        if i >= n or lines[i][0] != "8":
            raise Rejected(f"line {i + 1}: batch control expected")
        bc = lines[i]
        if (_num(bc, 4, 10, i + 1, "entry count") != count
                or _num(bc, 10, 20, i + 1, "entry hash") != b_hash % 10 ** 10
                or _num(bc, 20, 32, i + 1, "debit total") != debit
                or _num(bc, 32, 44, i + 1, "credit total") != credit):
            raise Rejected(f"line {i + 1}: batch control totals do not match the entries")
        parsed.batches += 1
        parsed.debit_cents += debit
        parsed.credit_cents += credit
        parsed.entry_hash += b_hash
        f_entries += count
        i += 1
    if i >= n or lines[i][0] != "9":
        raise Rejected(f"line {i + 1}: file control expected")
    fc = lines[i]
    if (_num(fc, 1, 7, i + 1, "batch count") != parsed.batches
            or _num(fc, 7, 13, i + 1, "block count") != n // 10
            or _num(fc, 13, 21, i + 1, "entry count") != f_entries
            or _num(fc, 21, 31, i + 1, "entry hash") != parsed.entry_hash % 10 ** 10
            or _num(fc, 31, 43, i + 1, "debit total") != parsed.debit_cents
            or _num(fc, 43, 55, i + 1, "credit total") != parsed.credit_cents):
        raise Rejected(f"line {i + 1}: file control totals do not match")
    if any(line != "9" * RECORD for line in lines[i + 1:]) or n % 10:
        raise Rejected("the file is not blocked to a multiple of 10 records with 9-padding")
    return parsed


def decide(entry: Received) -> tuple[str, str] | None:
    """('return', Rnn) or ('noc', Cnn) by the documented rules, or None (paid)."""
    tail = entry.account[-2:]
    if entry.validation and tail in RULES and tail not in VALIDATION_RULES:
        return None
    if tail in RULES:
        return "return", RULES[tail]
    if tail in NOC_RULES:
        return "noc", NOC_RULES[tail]
    return None


def _a(v: str, w: int) -> str:
    return v[:w].ljust(w)


def _n(v: int, w: int) -> str:
    return str(v).zfill(w)


def return_file(parsed: ParsedFile, now: datetime) -> str | None:
    """The return/NOC file for an originated file (None when every entry was paid)."""
    returns, nocs = [], []
    for e in parsed.entries:
        d = decide(e)
        if d:
            (returns if d[0] == "return" else nocs).append((e, d[1]))
    if not returns and not nocs:
        return None
    odfi = parsed.odfi_routing
    lines = ["1" + "01" + " " + odfi + " " + BANK_ROUTING + now.strftime("%y%m%d%H%M") + "A"
             + "094101" + _a("HEALTH CONNECTOR", 23) + _a("SANDBOX BANK", 23) + " " * 8]
    seq = 0
    for sec, items in (("WEB", returns), ("COR", nocs)):
        if not items:
            continue
        bno = len([x for x in lines if x[0] == "5"]) + 1
        lines.append("5" + "200" + _a("SANDBOX BANK", 16) + " " * 20 + _a("9910000019", 10) + sec
                     + _a("RETURN" if sec == "WEB" else "NOC", 10) + now.strftime("%y%m%d") * 2
                     + "   " + "1" + BANK_ROUTING[:8] + _n(bno, 7))
        count = b_hash = debit = credit = 0
        for e, code in items:
            seq += 1
            trace = BANK_ROUTING[:8] + _n(seq, 7)
            amount = e.amount_cents if sec == "WEB" else 0
            lines.append("6" + RETURN_CODE_OF[e.tx_code] + odfi[:8] + odfi[8] + _a(e.account, 17)
                         + _n(amount, 10) + _a(e.individual_id, 15) + _a(e.name, 22) + "  " + "1"
                         + trace)
            if sec == "WEB":
                lines.append("7" + "99" + code + e.trace + " " * 6 + e.routing[:8]
                             + _a("", 44) + trace)
            else:
                lines.append("7" + "98" + code + e.trace + " " * 6 + e.routing[:8]
                             + _a(correction(e, code), 29) + " " * 15 + trace)
            count += 2
            b_hash += int(odfi[:8])
            if RETURN_CODE_OF[e.tx_code] in ("21", "31"):
                credit += amount  # a returned credit (a refund) is a credit entry
            else:
                debit += amount
        lines.append("8" + "200" + _n(count, 6) + _n(b_hash % 10 ** 10, 10) + _n(debit, 12)
                     + _n(credit, 12) + _a("9910000019", 10) + " " * 25 + BANK_ROUTING[:8] + _n(bno, 7))
    batches = [x for x in lines if x[0] == "8"]
    total_count = sum(int(b[4:10]) for b in batches)
    total_hash = sum(int(b[10:20]) for b in batches) % 10 ** 10
    total_debit = sum(int(b[20:32]) for b in batches)
    total_credit = sum(int(b[32:44]) for b in batches)
    blocks = -(-(len(lines) + 1) // 10)
    lines.append("9" + _n(len(batches), 6) + _n(blocks, 6) + _n(total_count, 8)
                 + _n(total_hash, 10) + _n(total_debit, 12) + _n(total_credit, 12) + " " * 39)
    lines.extend(["9" * RECORD] * (blocks * 10 - len(lines)))
    assert all(len(x) == RECORD for x in lines)
    return "\n".join(lines) + "\n"


def correction(e: Received, code: str) -> str:
    if code == "C01":
        return e.account[:-2] + "56"
    if code == "C05":
        return {"27": "37", "37": "27", "22": "32", "32": "22", "28": "37", "38": "27"}[e.tx_code]
    raise AssertionError(code)


class Bank:
    """Processes outbound files once each (by name and SHA-256), remembering them in
    `<data_dir>/bank/processed.json`."""

    def __init__(self, outbound: Path, returns: Path, data_dir: Path | None = None) -> None:
        self.outbound, self.returns = outbound, returns
        self.state_file = data_dir / "bank" / "processed.json" if data_dir else None
        self.processed: list[dict[str, Any]] = []
        if self.state_file and self.state_file.exists():
            self.processed = orjson.loads(self.state_file.read_bytes())

    def _seen(self, name: str, sha: str) -> bool:
        return any(p["file"] == name and p["sha256"] == sha for p in self.processed)

    def process(self, name: str, raw: bytes) -> dict[str, Any]:
        sha = hashlib.sha256(raw).hexdigest()
        report: dict[str, Any] = {"file": name, "sha256": sha,
                                  "processed_at": datetime.now(timezone.utc).isoformat()}
        try:
            parsed = validate(raw.decode("ascii"))
        except (Rejected, UnicodeDecodeError) as exc:
            report.update(status="rejected", error=str(exc))
            return report
        text = return_file(parsed, datetime.now(timezone.utc))
        decided = [decide(e) for e in parsed.entries]
        report.update(status="accepted", entries=len(parsed.entries), debit_cents=parsed.debit_cents,
                      same_day_entries=parsed.same_day_entries,
                      returns=sum(1 for d in decided if d and d[0] == "return"),
                      nocs=sum(1 for d in decided if d and d[0] == "noc"), return_file=None)
        if text is not None:
            private_dir(self.returns)
            out = self.returns / f"RETURNS_{name}"
            write_private_atomic(out, text.encode("ascii"))
            report["return_file"] = out.name
        return report

    def poll_once(self) -> list[dict[str, Any]]:
        if not self.outbound.exists():
            return []
        new = []
        for path in sorted(self.outbound.glob("*.ach")):
            raw = path.read_bytes()
            sha = hashlib.sha256(raw).hexdigest()
            if self._seen(path.name, sha):
                continue
            report = self.process(path.name, raw)
            log.info("bank processed a file", extra={k: v for k, v in report.items() if k != "error"})
            self.processed.append(report)
            new.append(report)
        if new and self.state_file:
            private_dir(self.state_file.parent)
            write_private_atomic(self.state_file, orjson.dumps(self.processed))
        return new


BANK = web.AppKey("bank", Bank)


def register(app: web.Application, settings: SandboxSettings) -> None:
    bank = Bank(settings.ach_outbound_dir, settings.ach_returns_dir, settings.data_dir)
    app[BANK] = bank

    async def index(_: web.Request) -> web.Response:
        return json_response({"outbound_dir": str(bank.outbound), "returns_dir": str(bank.returns),
                              "rules": {**RULES, **NOC_RULES},
                              "files": list(reversed(bank.processed))[:500]})

    async def poll(_: web.Request) -> web.Response:
        return json_response({"processed": await asyncio.to_thread(bank.poll_once)})

    app.router.add_get("/bank/", index)
    app.router.add_post("/bank/poll", poll)

    async def poller(_: web.Application):
        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(bank.poll_once)
                except Exception:  # noqa: BLE001 - logged; the next poll tries again
                    log.exception("bank poll failed")
                await asyncio.sleep(settings.bank_poll_s)
        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(poller)
