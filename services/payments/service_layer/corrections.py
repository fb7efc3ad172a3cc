"""A bank's notification of change (NOC): the saved method corrected as the bank asks."""
from __future__ import annotations

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.domain import nacha
from services.payments.domain.returns import NOC_CODES, parse_correction
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps


async def correct_method(conn: asyncpg.Connection, deps: Deps, method_id: object,
                         item: nacha.ReturnItem) -> None:
    """Store the corrected routing number, account number (encrypted) or account type of
    the method the NOC names, and publish `method.updated` (corrected); a NOC whose
    corrected data cannot be used fails the return file it came in."""
    fix = parse_correction(item.code, item.corrected_data)
    if fix is None:
        raise nacha.MalformedFile(f"notification of change {item.code} for trace "
                                  f"{item.original_trace} has unusable corrected data")
    blob = key_id = last4 = None
    if fix.account_number:
        blob, key_id = deps.cipher.encrypt(fix.account_number, method_id)
        last4 = fix.account_number[-4:]
    m = await repo.correct_method(conn, method_id, routing=fix.routing_number, ciphertext=blob,
                                  key_id=key_id, last4=last4, account_type=fix.account_type)
    await events.enqueue(conn, events.method_updated(
        m, "corrected", f"{item.code}: {NOC_CODES.get(item.code, 'corrected')}"))
