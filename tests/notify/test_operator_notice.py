"""Notices for the exchange's operators, not for members: an ACH return rate reaching 80 %
of its Nacha limit, or crossing it, is mailed once to the operations mailbox
(NOTIFY_OPERATOR_EMAIL), however often the event is delivered."""
from __future__ import annotations

import asyncio

from services.notify.config import Settings
from shared.contracts.envelope import Envelope
from shared.contracts.payments import ReturnRateAlertData

OPERATORS = Settings().operator_email


def alert(level: str, returns: int) -> Envelope:
    return Envelope.of(ReturnRateAlertData(
        category="unauthorized", level=level, returns=returns, entries=241,  # type: ignore[arg-type]
        rate_percent="0.83" if returns == 2 else "0.41", limit_percent="0.50",
        return_codes=["R05", "R07", "R10", "R11", "R29", "R51"],
        window_start="2026-02-24", window_end="2026-04-24"), key="return-rates")


async def test_a_return_rate_over_its_limit_is_mailed_to_the_operators_once(notify_env):
    env = notify_env
    before = len(env.mail.to(OPERATORS))
    over = alert("over", 2)
    await env.publish(over, over)  # delivered twice: one notice
    [mail] = (await env.wait_for_emails(OPERATORS, before + 1))[before:]
    assert mail["subject"] == "ACH unauthorized return rate 0.83%: over Nacha's 0.50% limit"
    assert "2 returns (R05, R07, R10, R11, R29, R51) of 241 debit entries sent" in mail["text"]
    assert "February 24, 2026 to April 24, 2026" in mail["text"]
    assert "python -m services.payments.cli return-rates --date 2026-04-24" in mail["text"]
    await asyncio.sleep(1.0)
    assert len(env.mail.to(OPERATORS)) == before + 1
    # Operators only: no member's address is in the notification log for it.
    rows = await env.pool.fetch("SELECT channel, recipient, language FROM notifications "
                                "WHERE source_event_id = $1", over.event_id)
    assert [tuple(r) for r in rows] == [("email", OPERATORS, "en")]
