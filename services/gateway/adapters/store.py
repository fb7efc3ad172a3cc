"""The gateway's own tables: member sessions and one-use CAPTCHA challenges (SQL lives here)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_session(self, id_hash: bytes, member_id: str, username: str,
                             data: dict[str, Any], ttl_s: int) -> None:
        await self.pool.execute(
            """INSERT INTO sessions (session_id_hash, member_id, username, csrf_token, data, expires_at)
               VALUES ($1, $2, $3, '', $4, $5)""",
            id_hash, member_id, username, data, _in(ttl_s))

    async def load_session(self, id_hash: bytes, ttl_s: int, max_age_s: int) -> dict[str, Any] | None:
        """The live session, its expiry slid forward (idle timeout), never past `max_age_s`
        after it began (absolute lifetime)."""
        row = await self.pool.fetchrow(
            """UPDATE sessions SET expires_at = LEAST($2, created_at + make_interval(secs => $3))
               WHERE session_id_hash = $1 AND expires_at > now()
                 AND created_at > now() - make_interval(secs => $3)
               RETURNING member_id, username, data""", id_hash, _in(ttl_s), max_age_s)
        return dict(row) if row else None

    async def end_member_sessions(self, member_id: str, keep: bytes | None = None) -> int:
        """End every session of the member (but `keep`); returns how many ended."""
        result = await self.pool.execute(
            "DELETE FROM sessions WHERE member_id = $1 AND session_id_hash IS DISTINCT FROM $2",
            member_id, keep)
        return int(result.split()[-1])

    async def update_session_data(self, id_hash: bytes, data: dict[str, Any]) -> None:
        await self.pool.execute("UPDATE sessions SET data = $2 WHERE session_id_hash = $1",
                                id_hash, data)

    async def delete_session(self, id_hash: bytes) -> None:
        await self.pool.execute("DELETE FROM sessions WHERE session_id_hash = $1", id_hash)

    async def save_captcha(self, captcha_id: str, answer: str, ttl_s: int) -> datetime:
        expires = _in(ttl_s)
        await self.pool.execute(
            "INSERT INTO captcha_challenges (captcha_id, answer, expires_at) VALUES ($1, $2, $3)",
            captcha_id, answer, expires)
        return expires

    async def captcha_answer(self, captcha_id: str) -> str | None:
        return await self.pool.fetchval(
            """SELECT answer FROM captcha_challenges
               WHERE captcha_id = $1 AND expires_at > now() AND used_at IS NULL""", captcha_id)

    async def use_captcha(self, captcha_id: str, answer: str) -> bool:
        """True once for the right answer; a challenge is spent by any attempt."""
        stored = await self.pool.fetchval(
            """UPDATE captcha_challenges SET used_at = now()
               WHERE captcha_id = $1 AND expires_at > now() AND used_at IS NULL
               RETURNING answer""", captcha_id)
        return stored is not None and stored == answer.strip()

    async def purge_expired(self) -> None:
        await self.pool.execute("DELETE FROM sessions WHERE expires_at < now()")
        await self.pool.execute(
            "DELETE FROM captcha_challenges WHERE expires_at < now() - interval '1 hour'")


def _in(seconds: int) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)
