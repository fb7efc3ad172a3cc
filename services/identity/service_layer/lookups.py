"""Member lookup: plan type + one ID + name and date of birth, throttled per client address
and per target ID, with one answer for every kind of mismatch.

Every attempt counts against its client address. Against the target ID only failures
count, per (ID, address) and per ID over all addresses: a match (or an attempt refused
anyway) is given back, so a member's own lookups never use up their ID's allowance, and a
stranger at one address who knows the ID runs out of tries long before the member does."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from services.identity.adapters import repository as repo
from services.identity.adapters import throttle
from services.identity.domain import lookup as rules
from services.identity.service_layer import errors
from services.identity.service_layer.deps import Deps


@dataclass(frozen=True)
class Identification:
    """A validated lookup request (the entry point checked every field's shape)."""
    plan_type: str
    id_type: str
    id_value: str  # digits only for an SSN; never logged
    first_name: str
    last_name: str
    date_of_birth: date
    client_ip: str


async def identify(pool: asyncpg.Pool, deps: Deps, ident: Identification, *,
                   for_payment: bool = True) -> rules.Candidate:
    """The member the request identifies, or one of the service layer's errors.

    `for_payment` applies the 4-hour rule and requires a billing account number (a guest
    lookup before paying); registration only needs the member.
    """
    now = deps.clock()
    target = f"{ident.plan_type}:{ident.id_type}:{ident.id_value}"
    checks = [(deps.lookup_ip, deps.vault.subject("ip", ident.client_ip)),
              (deps.lookup_pair, deps.vault.subject("pair", f"{target}|{ident.client_ip}")),
              (deps.lookup_target, deps.vault.subject("target", target))]
    key: object = deps.vault.digest(ident.id_value) if ident.id_type == "ssn" else ident.id_value
    counters = throttle.counters(now, checks)
    query = repo.LookupQuery(ident.id_type, key, ident.plan_type, counters)
    # One statement (shared with the other lookups waiting at the same moment) counts the
    # attempt and loads the candidates; a throttled attempt's candidates are ignored, so it
    # costs the same and says nothing.
    if deps.lookup_batcher is not None:
        hits, candidates = await deps.lookup_batcher.submit(query)
    else:
        async with pool.acquire() as conn:
            [(hits, candidates)] = await repo.lookup_candidates(conn, [query])
    per_target = counters[1:]   # the ID's counters count failures only
    verdict = throttle.verdict(now, checks, hits)
    if not verdict.allowed:
        await _refund(pool, deps, per_target)
        raise errors.Throttled(verdict.retry_after_s)
    outcome = rules.decide(candidates, ident.first_name, ident.last_name, ident.date_of_birth,
                           now, deps.payable_wait, check_payable=for_payment,
                           need_account=for_payment)
    if isinstance(outcome, rules.NotFound):
        raise errors.NotFound()
    await _refund(pool, deps, per_target)
    if isinstance(outcome, rules.NotYetPayable):
        raise errors.NotYetPayable(outcome.payable_at)
    if isinstance(outcome, rules.AccountNotReady):
        raise errors.AccountNotReady()
    return outcome.candidate


async def _refund(pool: asyncpg.Pool, deps: Deps, counters: tuple[repo.Counter, ...]) -> None:
    """Give the attempt back on the ID's counters: with the other lookups giving theirs
    back at the same moment, in one statement, once the service has started."""
    if not counters:
        return
    if deps.refund_batcher is not None:
        await deps.refund_batcher.submit(counters)
    else:
        await throttle.refund(pool, counters)
