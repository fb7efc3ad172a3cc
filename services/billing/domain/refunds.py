"""Refunds of credit as the ledger books them (pure rules).

Credit is the sum of the entries with no coverage year, sign flipped. A refund that left
(`refund.issued`) is a `refund` entry of +amount: the credit goes down by what was sent.
A refund the bank returned (`refund.returned`) is a `refund_returned` entry of -amount:
the credit comes back. Each is booked once per refund, and a return only of a refund
booked as issued.
"""
from __future__ import annotations

from dataclasses import dataclass

REFUND, REFUND_RETURNED = "refund", "refund_returned"


@dataclass(frozen=True)
class Booking:
    """The ledger entry to write (kind, signed cents), or none (`kind` None) and why."""
    kind: str | None
    amount_cents: int
    note: str = ""


def on_issued(amount_cents: int, already_booked: set[str]) -> Booking:
    """`already_booked`: the kinds already in the ledger for this refund."""
    assert isinstance(amount_cents, int) and amount_cents > 0, "a refund is positive integer cents"
    if REFUND in already_booked:
        return Booking(None, 0, "already booked")
    return Booking(REFUND, amount_cents)


def on_returned(amount_cents: int, already_booked: set[str]) -> Booking:
    assert isinstance(amount_cents, int) and amount_cents > 0, "a refund is positive integer cents"
    if REFUND_RETURNED in already_booked:
        return Booking(None, 0, "already booked")
    if REFUND not in already_booked:
        return Booking(None, 0, "never booked as issued")
    return Booking(REFUND_RETURNED, -amount_cents)


def credit_after(credit_cents: int, booking: Booking) -> int:
    """The credit once the booking is written (entries are owed-positive, credit flips them)."""
    return credit_cents - booking.amount_cents
