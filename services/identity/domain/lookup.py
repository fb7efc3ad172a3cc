"""What a lookup decides once the candidate record is loaded. No I/O.

A lookup finds at most a few candidates by one indexed ID; it then compares the name and
date of birth of every candidate with no early exit, so a wrong ID, a wrong name and a wrong
date of birth cost the same work and give the same answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.identity.domain.values import normalize_name, payable_at, same_text


@dataclass(frozen=True)
class Candidate:
    member_id: str
    first_name: str
    first_name_norm: str
    last_name_norm: str
    date_of_birth: date
    billing_account_number: str | None
    enrollment_ids: tuple[str, ...]
    earliest_shopped_at: datetime | None  # of the enrollments the ID points at
    email: str | None
    phone: str | None
    language: str


@dataclass(frozen=True)
class Found:
    candidate: Candidate


@dataclass(frozen=True)
class NotFound:
    pass


@dataclass(frozen=True)
class NotYetPayable:
    payable_at: datetime


@dataclass(frozen=True)
class AccountNotReady:
    pass


Outcome = Found | NotFound | NotYetPayable | AccountNotReady


def match(candidates: list[Candidate], first_name: str, last_name: str, born: date) -> Candidate | None:
    """The candidate whose name and birth date match, comparing every one in full."""
    first, last = normalize_name(first_name), normalize_name(last_name)
    found = None
    for c in candidates:
        # The stored forms are folded again: rows written before folding compare the same.
        ok = same_text(normalize_name(c.first_name_norm), first) \
            & same_text(normalize_name(c.last_name_norm), last) \
            & (c.date_of_birth == born) & bool(c.enrollment_ids)
        if ok and found is None:
            found = c
    return found


def decide(candidates: list[Candidate], first_name: str, last_name: str, born: date,
           now: datetime, wait: timedelta, *, check_payable: bool = True,
           need_account: bool = True) -> Outcome:
    """Found, not found, not yet payable (shopped under `wait` ago) or account not ready."""
    c = match(candidates, first_name, last_name, born)
    if c is None:
        return NotFound()
    if check_payable and c.earliest_shopped_at is not None:
        when = payable_at(c.earliest_shopped_at, wait)
        if now < when:
            return NotYetPayable(when)
    if need_account and not c.billing_account_number:
        return AccountNotReady()
    return Found(c)
