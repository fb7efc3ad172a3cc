"""Portal accounts: register, log in (with lockout), password reset, username reminder,
contact details. Every event goes through the outbox in the transaction of its change."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from shared.contracts import identity as contract
from shared.outbox import enqueue
from services.identity.adapters import repository as repo
from services.identity.adapters import throttle
from services.identity.adapters.crypto import new_reset_token, token_hash
from services.identity.domain.accounts import LoginState
from services.identity.service_layer import errors
from services.identity.service_layer.deps import Deps, event
from services.identity.service_layer.lookups import Identification, identify

log = logging.getLogger(__name__)


async def register(pool: asyncpg.Pool, deps: Deps, ident: Identification, *, username: str,
                   email: str, password: str, phone: str | None, language: str | None) -> dict:
    """Identify the member as a lookup does, then open their portal account."""
    problem = deps.policy.problems(password, username)
    if problem:
        raise errors.WeakPassword(problem[0])
    member = await identify(pool, deps, ident, for_payment=False)
    member_id = UUID(member.member_id)
    password_hash = await deps.passwords.hash(deps.policy.normalize(password))
    async with pool.acquire() as conn, conn.transaction():
        if await repo.account_by_member(conn, member_id):
            raise errors.Conflict("already_registered", "This member already has a portal account.")
        if await repo.account_by_username(conn, username):
            raise errors.Conflict("username_taken", "That username is taken; please choose another.")
        try:
            await repo.create_account(conn, member_id, username, email, password_hash)
        except asyncpg.UniqueViolationError:
            raise errors.Conflict("username_taken", "That username is taken; please choose another.") from None
        changes: dict[str, Any] = {"email": email}
        if phone is not None:
            changes["phone"] = phone
        if language is not None:
            changes["language"] = language
        await repo.update_contact(conn, member_id, changes)
        view = await repo.member_view(conn, member_id)
        assert view is not None
        await enqueue(conn, event(contract.MEMBER_REGISTERED, member_id, contract.MemberRegisteredData(
            member_id=str(member_id), username=username, first_name=view["first_name"],
            last_name=view["last_name"],
            billing_account_numbers=[a["billing_account_number"] for a in view["accounts"]],
            email=email, phone=view["phone"], language=view["language"])))
    log.info("member registered", extra={"member_id": str(member_id)})
    return {"member_id": str(member_id), "username": username}


async def login(pool: asyncpg.Pool, deps: Deps, username: str, password: str, client_ip: str) -> dict:
    """Check a username and password; repeated failures lock the account for a while."""
    s, now = deps.settings, deps.clock()
    async with pool.acquire() as conn:
        verdict = await throttle.hit(conn, now, [(deps.login_ip, deps.vault.subject("ip", client_ip))])
        account = await repo.account_by_username(conn, username)
    if not verdict.allowed:
        raise errors.Throttled(verdict.retry_after_s)
    if account is None:
        await deps.passwords.verify(None, password)  # same time as a wrong password
        raise errors.InvalidCredentials()
    if LoginState(account["failed_logins"], account["locked_until"]).is_locked(now):
        raise errors.Locked(account["locked_until"])
    ok = await deps.passwords.verify(account["password_hash"], deps.policy.normalize(password))
    member_id = account["member_id"]
    async with pool.acquire() as conn, conn.transaction():
        current = await repo.account_by_username(conn, username, for_update=True)
        assert current is not None
        state = LoginState(current["failed_logins"], current["locked_until"])
        if state.is_locked(now):  # another attempt locked it meanwhile
            raise errors.Locked(current["locked_until"])
        if ok:
            await repo.set_login_state(conn, member_id, 0, None, logged_in=True)
            return {"member_id": str(member_id), "username": current["username"]}
        after = state.after_failure(now, s.login_failures_max, timedelta(seconds=s.lockout_s))
        await repo.set_login_state(conn, member_id, after.failed_logins, after.locked_until)
        if after.locked_until is not None:
            await enqueue(conn, event(contract.MEMBER_LOCKED_OUT, member_id, contract.MemberLockedOutData(
                member_id=str(member_id),
                billing_account_numbers=await repo.billing_account_numbers(conn, member_id),
                locked_until=after.locked_until.isoformat(), email=current["email"],
                phone=current["phone"], language=current["language"])))
            log.warning("account locked out", extra={"member_id": str(member_id)})
    if after.locked_until is not None:
        raise errors.Locked(after.locked_until)
    raise errors.InvalidCredentials()


def reset_url(base_url: str, token: str) -> str:
    return f"{base_url}{'&' if '?' in base_url else '?'}token={token}"


async def request_password_reset(pool: asyncpg.Pool, deps: Deps, username: str | None,
                                 email: str | None, base_url: str) -> None:
    """Send a single-use, expiring reset link to the account's email (if there is one)."""
    now = deps.clock()
    expires = now + timedelta(seconds=deps.settings.password_reset_ttl_s)
    async with pool.acquire() as conn, conn.transaction():
        if username:
            found = await repo.account_by_username(conn, username)
            accounts = [found] if found else []
        else:
            accounts = await repo.accounts_by_email(conn, email or "")
        for account in accounts:
            token, digest = new_reset_token()
            await repo.add_reset_token(conn, digest, account["member_id"], expires)
            await enqueue(conn, event(contract.PASSWORD_RESET_REQUESTED, account["member_id"],
                                      contract.PasswordResetRequestedData(
                member_id=str(account["member_id"]), email=account["email"],
                phone=account["phone"], language=account["language"],
                reset_url=reset_url(base_url, token), expires_at=expires.isoformat())))
    log.info("password reset requested", extra={"accounts": len(accounts)})


async def password_reset_state(pool: asyncpg.Pool, deps: Deps, token: str) -> str:
    """Whether a reset link still works ('usable'), or was 'used', 'expired' or is 'unknown',
    so the page says so before the member types a new password."""
    async with pool.acquire() as conn:
        return await repo.reset_token_state(conn, token_hash(token), deps.clock())


async def confirm_password_reset(pool: asyncpg.Pool, deps: Deps, token: str, new_password: str) -> dict:
    """Set a new password with a reset token: works once, before it expires; unlocks."""
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.claim_reset_token(conn, token_hash(token), deps.clock())
        if row is None:
            raise errors.InvalidToken()
        problem = deps.policy.problems(new_password, row["username"])
        if problem:
            raise errors.WeakPassword(problem[0])
        password_hash = await deps.passwords.hash(deps.policy.normalize(new_password))
        await repo.set_password(conn, row["member_id"], password_hash)
        await repo.use_reset_tokens(conn, row["member_id"])
    log.info("password reset", extra={"member_id": str(row["member_id"])})
    return {"member_id": str(row["member_id"]), "username": row["username"]}


async def remind_username(pool: asyncpg.Pool, deps: Deps, email: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for account in await repo.accounts_by_email(conn, email):
            await enqueue(conn, event(contract.USERNAME_REMINDER_REQUESTED, account["member_id"],
                                      contract.UsernameReminderRequestedData(
                member_id=str(account["member_id"]), username=account["username"],
                email=account["email"], language=account["language"])))


async def member(pool: asyncpg.Pool, deps: Deps, member_id: UUID) -> dict:
    async with pool.acquire() as conn:
        row = await repo.member_view(conn, member_id)
    if row is None:
        raise errors.NotFound()
    return _member_json(deps, row)


async def change_contact(pool: asyncpg.Pool, deps: Deps, member_id: UUID, changes: dict) -> dict:
    """Change what was given (nothing given: nothing changes, no event)."""
    if not changes:
        return await member(pool, deps, member_id)
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.update_contact(conn, member_id, changes):
            raise errors.NotFound()
        row = await repo.member_view(conn, member_id)
        assert row is not None
        await enqueue(conn, event(contract.MEMBER_CONTACT_CHANGED, member_id, contract.MemberContactChangedData(
            member_id=str(member_id),
            billing_account_numbers=[a["billing_account_number"] for a in row["accounts"]],
            email=row["email"], phone=row["phone"], language=row["language"],
            email_enabled=row["email_enabled"], sms_enabled=row["sms_enabled"])))
    return _member_json(deps, row)


def _member_json(deps: Deps, row: asyncpg.Record) -> dict:
    last4 = None
    if row["ssn_encrypted"] is not None:
        last4 = deps.vault.last_four(row["ssn_encrypted"], row["ssn_key_id"])
    return {
        "member_id": str(row["member_id"]), "username": row["username"],
        "first_name": row["first_name"], "last_name": row["last_name"],
        "accounts": row["accounts"],
        "contact": {"email": row["email"], "phone": row["phone"], "language": row["language"],
                    "email_enabled": row["email_enabled"], "sms_enabled": row["sms_enabled"]},
        "ssn_last4": last4,
    }
