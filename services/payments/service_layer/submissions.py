"""What every submission to payments shares (one-time payments in submit.py, recurring
set-ups in mandates.py): the answer a submission gives, and exactly-once answers per
idempotency key (the request's keyed hash, the first answer replayed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from services.payments.adapters import repository as repo
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import IdempotencyConflict


@dataclass(frozen=True)
class Answer:
    """A submission's answer: `body` as the payer is given it (and kept for a retry);
    `declined` for a card the processor declined (the failed payment is recorded, nothing
    is charged); `replayed` when it is the first answer to this key given again."""

    body: dict[str, Any]
    declined: bool = False
    replayed: bool = False


def request_hash(deps: Deps, scope: str, body: dict) -> str:
    """A keyed hash of the body as sent (less the key): the same key with another body is
    refused."""
    rest = {k: v for k, v in body.items() if k not in ("idempotency_key", "client_ip")}
    return deps.hasher(scope, orjson.dumps(rest, option=orjson.OPT_SORT_KEYS))


async def store(conn: asyncpg.Connection, key: str, answer: Answer) -> None:
    await repo.store_answer(conn, key, answer.body, declined=answer.declined)


def replay(row: asyncpg.Record, req_hash: str) -> Answer:
    if row["request_hash"] != req_hash:
        raise IdempotencyConflict()
    return Answer(row["response"], declined=repo.answer_declined(row), replayed=True)
