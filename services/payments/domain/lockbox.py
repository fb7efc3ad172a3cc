"""Checks and money orders received by mail (the lockbox bank's daily file) or at a counter
(phone or walk-in): reading the file and the items, and what a receipt is shown as. Pure
rules, no I/O; the file's columns are documented in docs/operations.md ("Lockbox").

A file is all or nothing: every line is checked and every problem named by its line number
and field, and a file with any problem is refused whole, so an operator fixes it with the
bank and imports it again instead of chasing which half was recorded.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from shared.money import InvalidAmount, parse_amount
from shared.numbers import is_digits, is_valid_ban

COLUMNS = ("batch_id", "item_sequence", "deposit_date", "billing_account_number", "amount",
           "check_number", "kind", "payer_name")
KINDS = ("check", "money_order")
# A lockbox bank's day for one exchange is thousands of items, not millions: a file far
# larger than this is not a lockbox file, and is refused before anything is read into rows.
ITEMS_MAX = 50_000
PAYER_NAME_MAX = 80
ERRORS_SHOWN_MAX = 20


@dataclass(frozen=True)
class Item:
    """One check or money order: `line_number` is its line in the file (the header is 1),
    None for an item entered at a counter."""

    batch_id: str | None
    item_sequence: int | None
    deposit_date: date
    billing_account_number: str
    amount_cents: int
    check_number: str
    kind: str
    payer_name: str
    line_number: int | None = None

    def __post_init__(self) -> None:
        assert self.amount_cents > 0, "a received item is a positive amount"
        assert self.kind in KINDS, "a check or a money order"
        assert is_digits(self.check_number, 1, 15), "check numbers are ASCII digits"

    @property
    def last4(self) -> str:
        """What events and receipts show of the check's number: its last four digits
        (zero-padded, as `method.last4` is always four digits)."""
        return self.check_number[-4:].rjust(4, "0")


@dataclass(frozen=True)
class Problem:
    line_number: int | None  # None: the file as a whole
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line_number}" if self.line_number is not None else "file"
        return f"{where}, {self.field}: {self.message}"


class Refused(ValueError):
    """A file or an item with problems: nothing of it may be recorded."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "a refusal names its problems"
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:ERRORS_SHOWN_MAX])
        more = len(problems) - ERRORS_SHOWN_MAX
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))


def check_fields(raw: dict[str, str], business_date: date, line: int | None,
                 amount_max_cents: int, *, batch: bool = True) -> tuple[Item | None, list[Problem]]:
    """One item's fields as text: the item, or the problems found (every field is checked,
    so a line's problems are all named at once). `batch`: a lockbox line, which carries the
    bank's batch and sequence; a counter item has neither."""
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(line, field, message))

    batch_id = sequence = None
    if batch:
        batch_id = raw.get("batch_id", "")
        if not is_digits(batch_id, 1, 10):
            bad("batch_id", "must be 1 to 10 digits")
        seq_text = raw.get("item_sequence", "")
        if not is_digits(seq_text, 1, 6) or int(seq_text) == 0:
            bad("item_sequence", "must be a number from 1 to 999999")
        else:
            sequence = int(seq_text)
    deposit = _date(raw.get("deposit_date", ""))
    if deposit is None:
        bad("deposit_date", "must be a date YYYY-MM-DD")
    elif deposit > business_date:
        bad("deposit_date", f"{deposit} is after the business date {business_date}")
    ban = raw.get("billing_account_number", "")
    if not is_valid_ban(ban):
        bad("billing_account_number", "must be 10 digits beginning with 7, with its check digit")
    cents = 0
    amount = raw.get("amount", "")
    whole, point, frac = amount.partition(".")
    try:
        # Exactly two decimal places: a bank file that wrote cents ("31000" for $310.00)
        # would otherwise read as a hundred times the check.
        if not (point and is_digits(whole) and is_digits(frac, 2, 2)):
            raise InvalidAmount(amount)
        cents = parse_amount(amount)
    except InvalidAmount:
        bad("amount", "must be dollars and cents with two decimals, like 310.00")
    if cents == 0 and not any(p.field == "amount" for p in problems):
        bad("amount", "must be more than 0.00")
    elif cents > amount_max_cents:
        bad("amount", f"is more than the {amount_max_cents // 100:,}.{amount_max_cents % 100:02d} "
                      "one payment may be")
    number = raw.get("check_number", "")
    if not is_digits(number, 1, 15):
        bad("check_number", "must be 1 to 15 digits")
    kind = raw.get("kind", "")
    if kind not in KINDS:
        bad("kind", "must be check or money_order")
    payer = raw.get("payer_name", "").strip()
    if not payer or len(payer) > PAYER_NAME_MAX or not payer.isprintable():
        bad("payer_name", f"must be 1 to {PAYER_NAME_MAX} printable characters")
    if problems:
        return None, problems
    assert deposit is not None
    return Item(batch_id, sequence, deposit, ban, cents, number, kind, payer, line), []


def parse_file(text: str, business_date: date, amount_max_cents: int) -> list[Item]:
    """Every item of a lockbox file, or `Refused` naming each bad line and field (a header
    that is not `COLUMNS`, a line with too few or too many fields, an item the bank
    numbered twice). `business_date`: no deposit can be dated after it."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []  # (the line a row ends on, its fields)
    try:
        for row in reader:
            rows.append((reader.line_num, row))
            if len(rows) > ITEMS_MAX + 1:
                raise Refused([Problem(None, "file", f"has more than {ITEMS_MAX:,} items")])
    except csv.Error as exc:
        raise Refused([Problem(reader.line_num, "line", f"is not valid CSV ({exc})")]) from None
    while rows and not any(cell.strip() for cell in rows[-1][1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise Refused([Problem(None, "file", "is empty")])
    header = tuple(cell.strip() for cell in rows[0][1])
    if header != COLUMNS:
        raise Refused([Problem(1, "header", "must be " + ",".join(COLUMNS))])
    if len(rows) == 1:
        raise Refused([Problem(None, "file", "has no items")])
    items: list[Item] = []
    problems: list[Problem] = []
    seen: dict[tuple[date, str | None, int | None], int] = {}
    for line, row in rows[1:]:
        if len(row) != len(COLUMNS):
            problems.append(Problem(line, "line", f"has {len(row)} fields, not {len(COLUMNS)}"))
            continue
        item, found = check_fields(dict(zip(COLUMNS, row, strict=True)), business_date, line,
                                   amount_max_cents)
        problems += found
        if item is None:
            continue
        key = (item.deposit_date, item.batch_id, item.item_sequence)
        if key in seen:
            problems.append(Problem(line, "item_sequence",
                                    f"batch {item.batch_id} item {item.item_sequence} is also "
                                    f"on line {seen[key]}"))
            continue
        seen[key] = line
        items.append(item)
    if problems:
        raise Refused(problems)
    assert len(items) == len(rows) - 1
    return items


def decode(raw: bytes) -> str:
    """A file's text: UTF-8 (payers' names may carry accents), with or without a byte
    order mark; anything else refuses the file."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused([Problem(None, "file", f"is not UTF-8 text (byte {exc.start})")]) from None


def _date(text: str) -> date | None:
    if len(text) != 10 or not is_digits(text[:4]) or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def method_of(item: Item) -> dict[str, str]:
    """The `method` a received item's payment shows: `{type: check|money_order, last4}`."""
    return {"type": item.kind, "last4": item.last4}
