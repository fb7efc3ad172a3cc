"""NACHA files: the debit file we originate and the return/NOC file the bank sends back.

Record layouts follow the NACHA Operating Rules (94-character records, blocking factor
10). Outbound: file header (1), one PPD-style WEB batch per effective date and up to
`batch_entries_max` entries (5 ... 8), entry details (6) with transaction code 27 (checking
debit) or 37 (savings debit), file control (9), then lines of 9s to a multiple of 10.
Return files: the same frame, entries with a 99 addenda (returns, R-codes) or, in a COR
batch, a 98 addenda (notifications of change, C-codes). `parse_return_file` refuses the
whole file at the first defect (`MalformedFile`), so nothing is half-applied.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.numbers import aba_ok, is_digits

RECORD = 94
TX_CODE = {"checking": "27", "savings": "37"}
# Refunds: a credit file of the same SEC code family (WEB), service class 220.
CREDIT_TX_CODE = {"checking": "22", "savings": "32"}
TX_TYPE = {"27": "checking", "37": "savings", "22": "checking", "32": "savings"}
# Account validation: a zero-dollar debit prenote, and the micro-entries' credits.
PRENOTE_TX_CODE = {"checking": "28", "savings": "38"}
CREDIT_TX_CODE = {"checking": "22", "savings": "32"}
CREDIT_CODES = frozenset(CREDIT_TX_CODE.values())
ZERO_CODES = frozenset(PRENOTE_TX_CODE.values())


class MalformedFile(ValueError):
    """A file that breaks the format; the message says where, never an account number."""


class UnwritableEntry(ValueError):
    """One entry the file cannot carry as it is (the message names the field, never its
    value); the cutoff holds it out and fails its payment, the file goes out for the rest."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


NAME_MAX = 80  # what a member may type; a longer name on file was never typed through the API


def check_entry(e: Entry) -> None:
    """Raises `UnwritableEntry` for an entry whose fields would not be written as they are
    (non-ASCII digits, wrong lengths, a routing check digit that fails, an empty or
    overlong name): an entry is written exactly, or not at all."""
    if e.account_type not in TX_CODE:
        raise UnwritableEntry("account_type", "the account type is not checking or savings")
    if not (len(e.routing_number) == 9 and is_digits(e.routing_number) and aba_ok(e.routing_number)):
        raise UnwritableEntry("routing_number", "the routing number is not 9 digits with a valid check digit")
    if not is_digits(e.account_number, 4, 17):
        raise UnwritableEntry("account_number", "the account number is not 4 to 17 digits")
    if e.tx_code is not None and e.tx_code not in (*TX_CODE.values(), *ZERO_CODES, *CREDIT_CODES):
        raise UnwritableEntry("transaction_code", "the transaction code is not one we originate")
    if e.tx_code in ZERO_CODES:
        if e.amount_cents != 0:
            raise UnwritableEntry("amount", "a prenote carries no amount")
    elif not 0 < e.amount_cents < 10 ** 10:
        raise UnwritableEntry("amount", "the amount does not fit the entry")
    if not is_digits(e.individual_id, 1, 15):
        raise UnwritableEntry("individual_id", "the billing account number is not digits")
    name = e.individual_name.strip()
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnwritableEntry("individual_name", f"the account holder's name is empty, has control "
                                                 f"characters or is over {NAME_MAX} characters")
    if not 0 <= e.trace_seq < 10 ** 7:
        raise UnwritableEntry("trace_number", "the trace number does not fit the entry")


@dataclass(frozen=True, slots=True)
class Entry:
    """One debit: `trace_seq` is unique in the file (the 7-digit tail of the trace number)."""
    account_type: str
    routing_number: str
    account_number: str
    amount_cents: int
    individual_id: str
    individual_name: str
    trace_seq: int
    recurring: bool
    # Account validation entries: a transaction code other than the debit's (28/38 prenote,
    # 22/32 credit) and their own Company Entry Description (e.g. ACCTVERIFY), in a batch
    # of their own.
    tx_code: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Origin:
    odfi_routing: str
    destination_name: str
    company_name: str
    company_id: str
    entry_description: str = "PREMIUM"


def _a(value: str, width: int) -> str:
    """Alphanumeric field: upper case, left-justified, cut to width, printable ASCII."""
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in value.upper())
    return text[:width].ljust(width)


def _n(value: int, width: int) -> str:
    assert 0 <= value < 10 ** width, f"numeric field overflow ({width} digits)"
    return str(value).zfill(width)


def trace_number(odfi_routing: str, seq: int) -> str:
    return odfi_routing[:8] + _n(seq, 7)


class NachaWriter:
    """Writes an outbound debit file record by record (a million entries never sit in
    memory): entries must come ordered by effective date, then trace number; a new batch
    starts at each effective date and every `batch_entries_max` entries."""

    def __init__(self, origin: Origin, created: datetime, file_id_modifier: str,
                 write: Callable[[str], Any], batch_entries_max: int = 100_000,
                 credits: bool = False, descriptive_date: str | None = None) -> None:
        """`credits`: a file of credit entries (refunds: codes 22/32, service class 220).
        `descriptive_date`: the batches' Company Descriptive Date ("SD1300": a same-day
        file's intended settlement window); the file's creation date when not given."""
        self.credits = credits
        assert descriptive_date is None or len(descriptive_date) == 6, descriptive_date
        self.descriptive_date = descriptive_date or created.strftime("%y%m%d")
        assert 1 <= batch_entries_max <= 999_999 and len(file_id_modifier) == 1
        self.origin, self.created, self._write = origin, created, write
        self.odfi8 = origin.odfi_routing[:8]
        self.batch_entries_max = batch_entries_max
        self.lines = 0
        self.f_entries = self.f_hash = self.f_debit = self.f_credit = self.batch_no = 0
        self._batch: tuple[date, int, int, int] | None = None  # effective, count, hash, debit
        self._batch_description: str | None = None
        self._batch_credit = self.f_credit = 0
        self._emit("1" + "01" + " " + origin.odfi_routing + _a(origin.company_id, 10)
                   + created.strftime("%y%m%d%H%M") + file_id_modifier + "094" + "10" + "1"
                   + _a(origin.destination_name, 23) + _a(origin.company_name, 23) + " " * 8)

    def _emit(self, line: str) -> None:
        assert len(line) == RECORD, line[:1]
        self._write(line + "\n")
        self.lines += 1

    def _open_batch(self, effective: date, description: str | None = None,
                    service_class: str = "225") -> None:
        self.batch_no += 1
        o = self.origin
        self._batch_description, self._batch_credit = description, 0
        self._service_class = service_class
        self._emit("5" + service_class + _a(o.company_name, 16) + " " * 20 + _a(o.company_id, 10) + "WEB"
                   + _a(description or o.entry_description, 10) + self.descriptive_date
                   + effective.strftime("%y%m%d") + "   " + "1" + self.odfi8 + _n(self.batch_no, 7))
        self._batch = (effective, 0, 0, 0)

    def _close_batch(self) -> None:
        if self._batch is None:
            return
        _, count, b_hash, debit = self._batch
        self._emit("8" + self._service_class + _n(count, 6) + _n(b_hash % 10 ** 10, 10) + _n(debit, 12)
                   + _n(self._batch_credit, 12) + _a(self.origin.company_id, 10) + " " * 25 + self.odfi8
                   + _n(self.batch_no, 7))
        self.f_entries += count
        self.f_hash += b_hash
        self.f_debit += debit
        self.f_credit += self._batch_credit
        self._batch = None

    def add(self, effective: date, e: Entry) -> None:
        """Writes one entry; `UnwritableEntry` (before anything is written) if it cannot be."""
        check_entry(e)
        if (self._batch is None or self._batch[0] != effective or self._batch[1] >= self.batch_entries_max
                or self._batch_description != e.description):
            self._close_batch()
            # A batch of micro-entries carries credits and debits (service class 200); a
            # refund file's batches only credits (220); a debit file's only debits (225).
            self._open_batch(effective, e.description,
                             "200" if e.description else "220" if self.credits else "225")
        assert self._batch is not None and (e.amount_cents > 0 or e.tx_code in ZERO_CODES)
        tx_code = e.tx_code or (CREDIT_TX_CODE if self.credits else TX_CODE)[e.account_type]
        self._emit("6" + tx_code + e.routing_number[:8] + e.routing_number[8]
                   + _a(e.account_number, 17) + _n(e.amount_cents, 10) + _a(e.individual_id, 15)
                   + _a(e.individual_name, 22) + ("R " if e.recurring else "S ") + "0"
                   + trace_number(self.odfi8, e.trace_seq))
        _, count, b_hash, debit = self._batch
        credit = tx_code in CREDIT_CODES
        if credit:
            self._batch_credit += e.amount_cents
        self._batch = (effective, count + 1, b_hash + int(e.routing_number[:8]),
                       debit + (0 if credit else e.amount_cents))

    def finish(self) -> dict[str, Any]:
        """Closes the last batch, writes the file control and the padding; the totals."""
        self._close_batch()
        blocks = -(-(self.lines + 1) // 10)
        self._emit("9" + _n(self.batch_no, 6) + _n(blocks, 6) + _n(self.f_entries, 8)
                   + _n(self.f_hash % 10 ** 10, 10) + _n(self.f_debit, 12) + _n(self.f_credit, 12)
                   + " " * 39)
        while self.lines < blocks * 10:
            self._emit("9" * RECORD)
        totals = {"entries": self.f_entries, "batches": self.batch_no, "debit_cents": self.f_debit,
                  "entry_hash": self.f_hash % 10 ** 10, "blocks": blocks}
        if self.credits:
            totals["credit_cents"] = self.f_credit
        return totals


def build_file(origin: Origin, created: datetime, file_id_modifier: str,
               entries: Iterable[tuple[date, Entry]], batch_entries_max: int = 100_000
               ) -> tuple[str, dict[str, Any]]:
    """The whole file as text, and its totals (small files, tests)."""
    parts: list[str] = []
    writer = NachaWriter(origin, created, file_id_modifier, parts.append, batch_entries_max)
    for effective, entry in entries:
        writer.add(effective, entry)
    totals = writer.finish()
    return "".join(parts), totals


# ------------------------------------------------------------------ return files
@dataclass(frozen=True)
class ReturnItem:
    """One return (kind "return", code Rnn) or notification of change (kind "noc", Cnn)."""
    kind: str
    code: str
    original_trace: str
    corrected_data: str
    addenda_info: str


def _records(text: str) -> Iterator[tuple[int, str]]:
    for no, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line == "":
            continue
        if len(line) != RECORD:
            raise MalformedFile(f"line {no}: a record must be {RECORD} characters, not {len(line)}")
        yield no, line


def _int(line: str, start: int, end: int, no: int, what: str) -> int:
    field = line[start:end]
    if not is_digits(field):
        raise MalformedFile(f"line {no}: {what} must be digits")
    return int(field)


def parse_return_file(text: str) -> list[ReturnItem]:
    """Every return and NOC in a bank's file, after checking the frame: record lengths and
    order, batch and file controls (counts, entry hash, totals), routing check digits."""
    items: list[ReturnItem] = []
    records = list(_records(text))
    if not records or records[0][1][0] != "1":
        raise MalformedFile("line 1: the file must start with a file header (record type 1)")
    state = "file"
    batch_count = f_entries = f_hash = f_debit = f_credit = 0
    b_entries = b_hash = b_debit = b_credit = 0
    sec = ""
    last_entry: tuple[str, int] | None = None
    seen_control = False
    for no, line in records[1:]:
        kind = line[0]
        if seen_control:
            if line != "9" * RECORD:
                raise MalformedFile(f"line {no}: nothing but padding may follow the file control")
            continue
        if kind == "5" and state == "file":
            state, sec = "batch", line[50:53]
            b_entries = b_hash = b_debit = b_credit = 0
            last_entry = None
            batch_count += 1
        elif kind == "6" and state == "batch":
            code = line[1:3]
            if code not in ("21", "26", "31", "36"):
                raise MalformedFile(f"line {no}: transaction code {code} is not a return or NOC code")
            routing = line[3:12]
            if not aba_ok(routing):
                raise MalformedFile(f"line {no}: the receiving routing number fails its check digit")
            amount = _int(line, 29, 39, no, "the amount")
            b_entries += 1
            b_hash += int(routing[:8])
            if code in ("21", "31"):
                b_credit += amount
            else:
                b_debit += amount
            if line[78] != "1":
                raise MalformedFile(f"line {no}: a return entry must carry an addenda record")
            last_entry = (code, no)
        elif kind == "7" and state == "batch":
            if last_entry is None:
                raise MalformedFile(f"line {no}: an addenda record without its entry")
            b_entries += 1
            atype, code = line[1:3], line[3:6]
            if atype == "99" and sec != "COR" and code[0] == "R" and is_digits(code[1:]):
                items.append(ReturnItem("return", code, line[6:21], "", line[35:79].strip()))
            elif atype == "98" and sec == "COR" and code[0] == "C" and is_digits(code[1:]):
                items.append(ReturnItem("noc", code, line[6:21], line[35:64].rstrip(), ""))
            else:
                raise MalformedFile(f"line {no}: addenda type {atype} with code {code!r} "
                                    f"does not belong in a {sec} batch")
            if not is_digits(line[6:21]):
                raise MalformedFile(f"line {no}: the original trace number must be 15 digits")
            last_entry = None
        elif kind == "8" and state == "batch":
            if last_entry is not None:
                raise MalformedFile(f"line {last_entry[1]}: entry without its addenda record")
            if (_int(line, 4, 10, no, "the entry count") != b_entries
                    or _int(line, 10, 20, no, "the entry hash") != b_hash % 10 ** 10
                    or _int(line, 20, 32, no, "the debit total") != b_debit
                    or _int(line, 32, 44, no, "the credit total") != b_credit):
                raise MalformedFile(f"line {no}: the batch control does not match its entries")
            f_entries += b_entries
            f_hash += b_hash
            f_debit += b_debit
            f_credit += b_credit
            state = "file"
        elif kind == "9" and state == "file":
            if (_int(line, 1, 7, no, "the batch count") != batch_count
                    or _int(line, 13, 21, no, "the entry count") != f_entries
                    or _int(line, 21, 31, no, "the entry hash") != f_hash % 10 ** 10
                    or _int(line, 31, 43, no, "the debit total") != f_debit
                    or _int(line, 43, 55, no, "the credit total") != f_credit):
                raise MalformedFile(f"line {no}: the file control does not match the batches")
            seen_control = True
        else:
            raise MalformedFile(f"line {no}: record type {kind!r} is out of place")
    if not seen_control:
        raise MalformedFile("the file has no file control record (type 9): it is cut short")
    if len(records) % 10:
        raise MalformedFile("the file is not blocked to a multiple of 10 records")
    return items
