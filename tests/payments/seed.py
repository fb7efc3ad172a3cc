"""Many mandates at once, straight into the tables (the autopay run's input)."""
from __future__ import annotations

import secrets
import uuid

import asyncpg

from services.payments.adapters.crypto import AccountCipher
from shared.numbers import make_ban

ROUTING = "011000015"


async def seed_mandates(pool: asyncpg.Pool, cipher: AccountCipher, count: int,
                        owed_cents: int = 25000, zero_every: int = 0) -> list[str]:
    """`count` accounts, each with an active mandate on its own checking account; every
    `zero_every`-th account owes nothing. Returns the billing account numbers."""
    bans, owed, methods, mandates = [], [], [], []
    # Consecutive numbers from a random start: thousands of random picks would collide.
    start = 1 + secrets.randbelow(10**8 - count - 1)
    for i in range(count):
        ban = make_ban(start + i)
        method_id, mandate_id = uuid.uuid4(), uuid.uuid4()
        account = str(uuid.uuid4().int)[:10] + "00"
        blob, key_id = cipher.encrypt(account, method_id)
        total = 0 if zero_every and i % zero_every == 0 else owed_cents
        bans.append(ban)
        owed.append((ban, "health", total, [{"coverage_year": 2026, "balance_cents": total,
                                             "current_premium_cents": total, "due_date": None}]))
        methods.append((method_id, ban, "checking", "Test Member", ROUTING, blob, key_id,
                        account[-4:], uuid.uuid4().hex))
        mandates.append((mandate_id, ban, "health", method_id,
                         {"email": f"m{i}@example.org", "phone": None, "language": "en"},
                         "authorization text", account[-4:]))
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """INSERT INTO owed_accounts (billing_account_number, plan_type, total_balance_cents, lines)
               VALUES ($1, $2, $3, $4)""", owed)
        await conn.executemany(
            """INSERT INTO methods (method_id, billing_account_number, type, holder_name,
               routing_number, account_ciphertext, key_id, last4, fingerprint)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""", methods)
        await conn.executemany(
            """INSERT INTO mandates (mandate_id, billing_account_number, plan_type, method_id, contact,
               authorization_text, authorized_at, authorized_method_last4)
               VALUES ($1, $2, $3, $4, $5, $6, now(), $7)""", mandates)
    return bans
