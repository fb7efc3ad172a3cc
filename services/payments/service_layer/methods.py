"""Saving payment methods: bank accounts encrypted, cards tokenized by the processor; a
member removes one (kept for the payments that used it, no longer listed)."""
from __future__ import annotations

import uuid

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.adapters.processor import CardToken
from services.payments.domain.methods import BankAccount, Card, InvalidInput
from services.payments.service_layer import account_validation, events
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import MethodInUse, NoMethod


async def save_bank_account(conn: asyncpg.Connection, deps: Deps, ban: str,
                            account: BankAccount, contact: dict | None = None) -> asyncpg.Record:
    """The account's saved method for these details (created, with `method.updated`, the
    first time). A method the bank closed (R02/R03/R04) is refused."""
    fp = deps.hasher("bank", account.routing_number, account.account_number)
    found = await repo.method_by_fingerprint(conn, ban, fp)
    if found is not None:
        if found["status"] == "disabled":
            raise InvalidInput({"method.account_number":
                                "The bank could not use this account for an earlier payment. "
                                "Please pay from another account."})
        return await _restored(conn, found)
    method_id = events.new_id()
    blob, key_id = deps.cipher.encrypt(account.account_number, method_id)
    row = await repo.insert_method(
        conn, method_id=method_id, billing_account_number=ban, type=account.type,
        holder_name=account.holder_name, routing_number=account.routing_number,
        account_ciphertext=blob, key_id=key_id, last4=account.last4, fingerprint=fp)
    await events.enqueue(conn, events.method_updated(row, "active", "added"))
    await account_validation.start(conn, deps, row, contact, deps.today())  # new to the system
    return row


async def save_card(conn: asyncpg.Connection, deps: Deps, ban: str, card: Card,
                    token: CardToken) -> asyncpg.Record:
    fp = deps.hasher("card", card.number)
    found = await repo.method_by_fingerprint(conn, ban, fp)
    if found is not None:
        if found["status"] == "disabled":
            raise InvalidInput({"method.card_number": "This card cannot be used. Please use another."})
        return await _restored(conn, found)
    row = await repo.insert_method(
        conn, method_id=events.new_id(), billing_account_number=ban, type="card",
        holder_name=card.holder_name, card_token=token.token, brand=token.brand,
        expiry_month=card.expiry_month, expiry_year=card.expiry_year, last4=card.last4,
        fingerprint=fp)
    await events.enqueue(conn, events.method_updated(row, "active", "added"))
    return row


async def _restored(conn: asyncpg.Connection, found: asyncpg.Record) -> asyncpg.Record:
    """A removed method saved again is the member's again (`method.updated` "active")."""
    if found["removed_at"] is None:
        return found
    row = await repo.set_method_removed(conn, found["method_id"], False)
    await events.enqueue(conn, events.method_updated(row, "active", "added"))
    return row


async def remove_method(deps: Deps, ban: str, method_id: str) -> dict:
    """DELETE /accounts/{ban}/methods/{method_id}: the row stays (payments made with it keep
    their history) but is no longer listed; `method.updated` with status "removed". The
    bank account the active recurring payment draws from cannot be removed (409
    method_in_use): change the recurring payment's account or cancel it first."""
    try:
        mid = uuid.UUID(method_id)
    except ValueError:
        raise NoMethod() from None
    async with deps.pool.acquire() as conn, conn.transaction():
        method = await repo.lock_account_method(conn, ban, mid)
        if method is None or method["removed_at"] is not None:
            raise NoMethod()
        mandate = await repo.active_mandate(conn, ban)
        if mandate is not None and mandate["method_id"] == mid:
            raise MethodInUse()
        row = await repo.set_method_removed(conn, mid, True)
        await events.enqueue(conn, events.method_updated(row, "removed", "member_request"))
    return {"method_id": str(mid), "status": "removed"}
