"""Refunds of credit: pure rules (no I/O).

A member's credit is what billing holds for the account beyond what is owed (a negative
total balance in the projection). A refund takes part or all of it back to the method that
paid: never more than the credit less the refunds already on their way, and above the
configured amount only once an operator approves it.
"""
from __future__ import annotations

import secrets

from shared.money import InvalidAmount, parse_typed_amount

APPROVED, PENDING_APPROVAL = "approved", "pending_approval"


class BadAmount(ValueError):
    """The amount typed is not a positive amount in dollars and cents."""


def credit_of(total_balance_cents: int) -> int:
    """The credit a total balance holds: 0 when something is owed."""
    return max(0, -total_balance_cents)


def available(total_balance_cents: int, refunds_on_their_way_cents: int) -> int:
    """What may still be refunded: the credit less refunds requested and not yet booked."""
    return max(0, credit_of(total_balance_cents) - refunds_on_their_way_cents)


def amount_of(typed: object, available_cents: int) -> int:
    """The refund's cents: "credit" (all of what is available) or a typed amount such as
    "12.34" (ASCII digits only). `BadAmount` for anything else or for zero."""
    if typed == "credit":
        if available_cents <= 0:
            raise BadAmount("there is no credit to refund")
        return available_cents
    if not isinstance(typed, str):
        raise BadAmount("Enter an amount in dollars and cents, like 12.34.")
    try:
        cents = parse_typed_amount(typed)
    except InvalidAmount:
        raise BadAmount("Enter an amount in dollars and cents, like 12.34.") from None
    if cents <= 0:
        raise BadAmount("Enter an amount greater than zero.")
    return cents


def status_for(amount_cents: int, approval_cents: int) -> str:
    """Above the approval amount a refund waits for an operator; at or below it, it goes."""
    return PENDING_APPROVAL if amount_cents > approval_cents else APPROVED


def confirmation_number() -> str:
    return "RFD-" + secrets.token_hex(8).upper()
