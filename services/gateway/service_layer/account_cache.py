"""The gateway's short-lived copy of each billing account's summary.

A member's pages ask for the same account summary again and again (lookup, the billing
step, the review, the confirmation, the dashboard); each answer costs a call to billing and
one to payments. The cache keeps the assembled answer per billing account number and gives
it back while it is known to be current:

- every event billing or payments publishes about an account (their topics are keyed by
  the billing account number) drops the account's copy (`invalidate`, fed by the gateway's
  change feed), and so does every change the gateway itself sends (a payment, autopay);
- after such a change the account is read straight from the services for `settle_s`
  seconds, so the effects that follow a change through Kafka (billing recording a
  submitted payment) are seen as soon as they land, never hidden behind a copy taken in
  between; a read that started before a change is never kept;
- a copy is never older than `ttl_s` (date-driven fields such as "past due" follow without
  any event), only complete answers are kept (never one with a notice), and nothing is
  served while `usable()` says the change feed or a source service is not there: the
  gateway then answers exactly as without a cache.

Copies are stored as JSON bytes, so each reader gets its own dict to change.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter

CACHE_READS = Counter("gateway_account_cache_reads_total",
                      "Account summaries asked of the gateway's cache", ["outcome"])
CACHE_BYPASS = Counter("gateway_account_cache_bypass_total",
                       "Account summaries read past the cache because it could not be trusted",
                       ["reason"])
CACHE_INVALIDATIONS = Counter("gateway_account_cache_invalidations_total",
                              "Account copies dropped because the account changed", ["source"])


@dataclass
class _Entry:
    body: bytes
    expires: float


class AccountCache:
    def __init__(self, ttl_s: float, settle_s: float, max_entries: int,
                 usable: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.monotonic,
                 bypass_reason: Callable[[], str] = lambda: "untrusted") -> None:
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.max_entries = max_entries
        self.usable = usable
        self.clock = clock
        self.bypass_reason = bypass_reason  # why `usable()` said no, for the metrics
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._changed: dict[str, float] = {}  # ban -> when it last changed (monotonic)
        self._inflight: dict[str, asyncio.Future] = {}
        self._epoch = 0  # bumped by clear(): a read begun before it is never kept

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    async def get(self, ban: str, fetch: Callable[[], Awaitable[dict[str, Any]]],
                  keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The account's summary: the copy when current, else `fetch()` (one fetch at a
        time per account: readers arriving meanwhile share it); kept when `keep(answer)`."""
        if not self.enabled or not self.usable():
            CACHE_READS.labels("bypass").inc()
            if self.enabled:
                CACHE_BYPASS.labels(self.bypass_reason()).inc()
            return await fetch()
        now = self.clock()
        entry = self._entries.get(ban)
        if entry is not None:
            if entry.expires > now:
                CACHE_READS.labels("hit").inc()
                return orjson.loads(entry.body)
            del self._entries[ban]
        pending = self._inflight.get(ban)
        if pending is not None:
            CACHE_READS.labels("shared").inc()
            try:
                return orjson.loads(await asyncio.shield(pending))
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this reader was cancelled, not the read it waited on
                return await fetch()
        CACHE_READS.labels("miss").inc()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[ban] = future
        started, epoch = now, self._epoch
        try:
            answer = await fetch()
            body = orjson.dumps(answer)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without sharers
            raise
        finally:
            self._inflight.pop(ban, None)
        future.set_result(body)
        if keep(answer) and epoch == self._epoch and self._may_keep(ban, started):
            self._store(ban, body)
        return answer

    def invalidate(self, ban: str, source: str = "event") -> None:
        """The account changed: drop its copy and read it fresh for `settle_s` seconds."""
        CACHE_INVALIDATIONS.labels(source).inc()
        self._entries.pop(ban, None)
        if not self.enabled:
            return
        self._changed[ban] = self.clock()
        if len(self._changed) > 4 * self.max_entries:
            self._forget_old_changes()

    def clear(self) -> None:
        """Forget every copy (the change feed stopped or restarted: changes may be missed)."""
        self._entries.clear()
        self._epoch += 1

    def _may_keep(self, ban: str, started: float) -> bool:
        changed = self._changed.get(ban)
        if changed is None:
            return True
        now = self.clock()
        # A change after the read began, or a change still settling: read fresh next time.
        return changed < started and now - changed >= self.settle_s

    def _store(self, ban: str, body: bytes) -> None:
        self._entries[ban] = _Entry(body, self.clock() + self.ttl_s)
        self._entries.move_to_end(ban)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _forget_old_changes(self) -> None:
        horizon = self.clock() - max(self.settle_s, self.ttl_s)
        self._changed = {b: t for b, t in self._changed.items() if t > horizon}
