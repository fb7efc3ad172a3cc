"""Amounts and their split across coverage-year lines. Pure rules, integer cents."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.payments.domain.methods import InvalidInput
from shared.money import InvalidAmount, parse_amount

_SCIENTIFIC = re.compile(r"[eE]")


@dataclass(frozen=True)
class Line:
    coverage_year: int
    balance_cents: int


def parse_typed_amount(text: object, field: str = "amount") -> int:
    """A typed amount: a plain decimal with at most two places, above zero."""
    if not isinstance(text, str):
        raise InvalidInput({field: "Enter an amount in dollars and cents, like 125.50."})
    t = text.strip().lstrip("$")
    if _SCIENTIFIC.search(t):
        raise InvalidInput({field: "Enter the amount as digits, like 125.50 (no exponents)."})
    if t.startswith("-"):
        raise InvalidInput({field: "The amount must be more than zero."})
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", t):
        raise InvalidInput({field: "Enter at most two digits after the decimal point."})
    try:
        cents = parse_amount(t)
    except InvalidAmount as exc:
        raise InvalidInput({field: str(exc)}) from None
    if cents <= 0:
        raise InvalidInput({field: "The amount must be more than zero."})
    return cents


def resolve_amount(text: object, total_owed_cents: int, overpay_max_cents: int,
                   payment_max_cents: int) -> int:
    """'total' (what is owed now) or a typed amount within what the program allows."""
    if text == "total":
        if total_owed_cents <= 0:
            raise InvalidInput({"amount": "There is nothing to pay on this account right now."})
        return total_owed_cents
    cents = parse_typed_amount(text)
    limit = min(max(total_owed_cents, 0) + overpay_max_cents, payment_max_cents)
    if cents > limit:
        raise InvalidInput({"amount": "The amount is more than this account allows: "
                                      f"at most {limit // 100}.{limit % 100:02d}."})
    return cents


def allocate(amount_cents: int, lines: list[Line], requested: list[dict[str, Any]] | None
             ) -> list[dict[str, int]]:
    """The split of a payment across coverage-year lines: the member's choice (each amount
    within its line, summing to the payment), or oldest year first with any remainder on
    the newest line."""
    assert amount_cents > 0
    years = {line.coverage_year: line for line in lines}
    if requested:
        out: dict[int, int] = {}
        errors: dict[str, str] = {}
        for i, item in enumerate(requested):
            year = item.get("coverage_year") if isinstance(item, dict) else None
            if not isinstance(year, int) or year not in years or year in out:
                errors[f"allocations.{i}.coverage_year"] = "Choose one of this account's coverage years."
                continue
            try:
                cents = parse_typed_amount(item.get("amount"), f"allocations.{i}.amount")
            except InvalidInput as exc:
                errors.update(exc.fields)
                continue
            out[year] = cents
        if not errors and sum(out.values()) != amount_cents:
            errors["allocations"] = "The amounts for each year must add up to the payment."
        if errors:
            raise InvalidInput(errors)
        return [{"coverage_year": y, "amount_cents": c} for y, c in sorted(out.items())]
    if not lines:
        raise InvalidInput({"amount": "There is nothing to pay on this account right now."})
    left, out_list = amount_cents, []
    ordered = sorted(lines, key=lambda ln: ln.coverage_year)
    for line in ordered:
        take = min(left, max(line.balance_cents, 0))
        if take:
            out_list.append({"coverage_year": line.coverage_year, "amount_cents": take})
            left -= take
    if left:
        if out_list and out_list[-1]["coverage_year"] == ordered[-1].coverage_year:
            out_list[-1]["amount_cents"] += left
        else:
            out_list.append({"coverage_year": ordered[-1].coverage_year, "amount_cents": left})
    assert sum(a["amount_cents"] for a in out_list) == amount_cents
    return out_list
