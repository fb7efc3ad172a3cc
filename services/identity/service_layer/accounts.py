"""Portal accounts: register, log in (throttled), password reset, username reminder,
contact details. Every event goes through the outbox in the transaction of its change.

No answer says whether a username or an identity has an account: a login with an unknown
username is counted, throttled and timed as a wrong password (a dummy hash is verified);
registering for an identity that already has an account answers as a new registration and
emails the account's own address instead."""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.identity.adapters import repository as repo
from services.identity.adapters import throttle
from services.identity.adapters.crypto import new_reset_token, token_hash
from services.identity.service_layer import errors
from services.identity.service_layer.deps import Deps
from services.identity.service_layer.lookups import Identification, identify
from shared.contracts import identity as contract
from shared.outbox import enqueue

log = logging.getLogger(__name__)


async def register(pool: asyncpg.Pool, deps: Deps, ident: Identification, *, username: str,
                   email: str, password: str, phone: str | None, language: str | None) -> dict:
    """Identify the member as a lookup does, then open their portal account. A member who
    has one already gets the same answer, and an email to the account's address."""
    problem = deps.policy.problems(password, username)
    if problem:
        raise errors.WeakPassword(problem[0])
    member = await identify(pool, deps, ident, for_payment=False)
    member_id = UUID(member.member_id)
    password_hash = await deps.passwords.hash(deps.policy.normalize(password))
    answer = {"member_id": str(member_id), "username": username}
    async with pool.acquire() as conn, conn.transaction():
        if await repo.account_by_username(conn, username):
            raise errors.Conflict("username_taken", "That username is taken; please choose another.")
        existing = await repo.account_by_member(conn, member_id)
        if existing is not None:
            view = await repo.member_view(conn, member_id)
            assert view is not None
            await enqueue(conn, contract.MemberRegistrationRepeatedData(
                member_id=str(member_id), username=existing["username"], email=existing["email"],
                language=view["language"]), key=str(member_id))
            log.info("registration repeated for an existing account", extra={"member_id": str(member_id)})
            return answer
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
        await enqueue(conn, contract.MemberRegisteredData(
            member_id=str(member_id), username=username, first_name=view["first_name"],
            last_name=view["last_name"],
            billing_account_numbers=[a["billing_account_number"] for a in view["accounts"]],
            email=email, phone=view["phone"], language=view["language"]), key=str(member_id))
    log.info("member registered", extra={"member_id": str(member_id)})
    return answer


def _subjects(deps: Deps, username: str, client: str) -> tuple[bytes, bytes]:
    """(user, pair) throttling subjects of a log-in: keyed hashes, never the name itself."""
    name = username.strip().lower()
    return (deps.vault.subject("login_user", name),
            deps.vault.subject("login_pair", f"{name}\x1f{client}"))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def _refuse_if_paused(conn: asyncpg.Connection, now: datetime, subjects: list[bytes]) -> None:
    until = await repo.login_blocked_until(conn, subjects, now)
    if until is not None:
        raise errors.Throttled(_seconds_until(until, now))


async def _count_failure(conn: asyncpg.Connection, deps: Deps, now: datetime, user: bytes,
                         pair: bytes, account: asyncpg.Record | None) -> int:
    """Count a wrong password against the pair and the user; returns the pause it starts
    (0: none). The first pause of a run is told to the account's member, if there is one."""
    s, delay, starts = deps.settings, 0, False
    for scope, rule in deps.login_backoffs:  # pair first, then user: one lock order
        subject = pair if scope == "pair" else user
        failures = await repo.count_login_failure(conn, scope, subject, user, now,
                                                  s.login_failure_memory_s)
        pause = rule.delay_s(failures)
        if pause:
            await repo.block_login(conn, scope, subject, now + timedelta(seconds=pause))
            starts = starts or rule.starts_pausing(failures)
        delay = max(delay, pause)
    if starts and account is not None:
        member_id = account["member_id"]
        await enqueue(conn, contract.MemberLoginThrottledData(
            member_id=str(member_id),
            billing_account_numbers=await repo.billing_account_numbers(conn, member_id),
            retry_at=(now + timedelta(seconds=delay)).isoformat(), email=account["email"],
            phone=account["phone"], language=account["language"]), key=str(member_id))
        log.warning("log-ins paused after wrong passwords", extra={"member_id": str(member_id)})
    return delay


async def login(pool: asyncpg.Pool, deps: Deps, username: str, password: str, client_ip: str) -> dict:
    """Check a username and password. Wrong passwords pause log-ins for that username (from
    that address, and from anywhere past a higher count) for a growing delay: 429 with
    `retry_after_s`, the same for a username that has no account."""
    now = deps.clock()
    user, pair = _subjects(deps, username, client_ip)
    async with pool.acquire() as conn:
        verdict = await throttle.hit(conn, now, [(deps.login_ip, deps.vault.subject("ip", client_ip))])
        if not verdict.allowed:
            raise errors.Throttled(verdict.retry_after_s)
        await _refuse_if_paused(conn, now, [pair, user])
        account = await repo.account_by_username(conn, username)
    stored = account["password_hash"] if account is not None else None
    ok = await deps.passwords.verify(stored, deps.policy.normalize(password))
    async with pool.acquire() as conn, conn.transaction():
        if ok:
            assert account is not None
            await repo.forget_login_failures(conn, subject=pair)
            await repo.set_logged_in(conn, account["member_id"])
            return {"member_id": str(account["member_id"]), "username": account["username"]}
        delay = await _count_failure(conn, deps, now, user, pair, account)
    if delay:
        raise errors.Throttled(delay)
    raise errors.InvalidCredentials()


RESET_PATH = "/reset-password"


def reset_url(public_url: str, token: str) -> str:
    """The portal's reset page on the configured public URL, never a requested address."""
    return f"{public_url.rstrip('/')}{RESET_PATH}?token={token}"


async def request_password_reset(pool: asyncpg.Pool, deps: Deps, username: str | None,
                                 email: str | None) -> None:
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
            await enqueue(conn, contract.PasswordResetRequestedData(
                member_id=str(account["member_id"]), email=account["email"],
                phone=account["phone"], language=account["language"],
                reset_url=reset_url(deps.settings.public_url, token), expires_at=expires.isoformat()), key=str(account["member_id"]))
    log.info("password reset requested", extra={"accounts": len(accounts)})


async def password_reset_state(pool: asyncpg.Pool, deps: Deps, token: str) -> str:
    """Whether a reset link still works ('usable'), or was 'used', 'expired' or is 'unknown',
    so the page says so before the member types a new password."""
    async with pool.acquire() as conn:
        return await repo.reset_token_state(conn, token_hash(token), deps.clock())


async def confirm_password_reset(pool: asyncpg.Pool, deps: Deps, token: str, new_password: str) -> dict:
    """Set a new password with a reset token: works once, before it expires; forgets the
    username's wrong passwords and tells the member. (The gateway ends every session of the
    member it answers.)"""
    now = deps.clock()
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.claim_reset_token(conn, token_hash(token), now)
        if row is None:
            raise errors.InvalidToken()
        problem = deps.policy.problems(new_password, row["username"])
        if problem:
            raise errors.WeakPassword(problem[0], "new_password")
        password_hash = await deps.passwords.hash(deps.policy.normalize(new_password))
        await repo.set_password(conn, row["member_id"], password_hash)
        await repo.use_reset_tokens(conn, row["member_id"])
        user, _ = _subjects(deps, row["username"], "")
        await repo.forget_login_failures(conn, user_subject=user)
        account = await repo.account_by_username(conn, row["username"])
        assert account is not None
        await enqueue(conn, contract.MemberPasswordChangedData(
            member_id=str(row["member_id"]), changed_at=now.isoformat(), email=account["email"],
            phone=account["phone"], language=account["language"]), key=str(row["member_id"]))
    log.info("password reset", extra={"member_id": str(row["member_id"])})
    return {"member_id": str(row["member_id"]), "username": row["username"]}


async def remind_username(pool: asyncpg.Pool, deps: Deps, email: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for account in await repo.accounts_by_email(conn, email):
            await enqueue(conn, contract.UsernameReminderRequestedData(
                member_id=str(account["member_id"]), username=account["username"],
                email=account["email"], language=account["language"]), key=str(account["member_id"]))


async def member(pool: asyncpg.Pool, deps: Deps, member_id: UUID) -> dict:
    async with pool.acquire() as conn:
        row = await repo.member_view(conn, member_id)
    if row is None:
        raise errors.NotFound()
    return _member_json(deps, row)


async def change_contact(pool: asyncpg.Pool, deps: Deps, member_id: UUID, changes: dict,
                         current_password: str | None = None) -> dict:
    """Change what was given (nothing given: nothing changes, no event). A new email address
    needs the account's current password (wrong ones count as wrong log-ins), and both the
    old and the new address are told."""
    if not changes:
        return await member(pool, deps, member_id)
    now = deps.clock()
    async with pool.acquire() as conn:
        before = await repo.member_view(conn, member_id)
        account = await repo.account_by_member(conn, member_id)
    if before is None:
        raise errors.NotFound()
    old_email = account["email"] if account is not None else before["email"]
    email_changes = bool(changes.get("email")) and changes["email"].lower() != (old_email or "").lower()
    if email_changes:
        await _check_current_password(pool, deps, now, account, current_password)
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.update_contact(conn, member_id, changes):
            raise errors.NotFound()
        row = await repo.member_view(conn, member_id)
        assert row is not None
        await enqueue(conn, contract.MemberContactChangedData(
            member_id=str(member_id),
            billing_account_numbers=[a["billing_account_number"] for a in row["accounts"]],
            email=row["email"], phone=row["phone"], language=row["language"],
            email_enabled=row["email_enabled"], sms_enabled=row["sms_enabled"]), key=str(member_id))
        if email_changes:
            await enqueue(conn, contract.MemberEmailChangedData(
                member_id=str(member_id), old_email=old_email, new_email=row["email"],
                changed_at=now.isoformat(), language=row["language"]), key=str(member_id))
    return _member_json(deps, row)


async def _check_current_password(pool: asyncpg.Pool, deps: Deps, now: datetime,
                                  account: asyncpg.Record | None, password: str | None) -> None:
    if not password:
        raise errors.PasswordRequired()
    username = account["username"] if account is not None else ""
    user, pair = _subjects(deps, username, "contact-change")
    async with pool.acquire() as conn:
        await _refuse_if_paused(conn, now, [pair, user])
    stored = account["password_hash"] if account is not None else None
    if await deps.passwords.verify(stored, deps.policy.normalize(password)):
        return
    async with pool.acquire() as conn, conn.transaction():
        delay = await _count_failure(conn, deps, now, user, pair, None)
    if delay:
        raise errors.Throttled(delay)
    raise errors.WrongPassword()


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
