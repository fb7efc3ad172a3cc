"""Seeds a household for the end-to-end and browser tests of the gateway.

Works around tests/stack.py's `seed_member`, whose last names ("Tester1a2b3c") carry
digits that identity rightly refuses as a name ("may contain only letters, spaces,
apostrophes, hyphens and periods"), so those members can never be looked up. Same event,
same wait, letters only. Drop this once `seed_member` makes letter-only names."""
from __future__ import annotations

import asyncio
import random
import string
import uuid
from datetime import date, datetime, timedelta, timezone

import aiohttp

from scripts.seed_demo import enrollment_event, publish


async def seed_member(stack, *, shopped_hours_ago: float = 5, plan_type: str = "health",
                      premium_cents: int = 25_000) -> dict:
    n = random.randint(10**8, 10**9 - 1)
    start = (datetime.now(timezone.utc).date().replace(day=1) + timedelta(days=32)).replace(day=1)
    member = {
        "enrollment_id": f"33{n}", "household_id": f"HH-{uuid.uuid4().hex[:10]}",
        "ssn": f"{random.randint(100, 665)}{random.randint(10, 99)}{random.randint(1000, 9999)}",
        "first_name": random.choice(["Maria", "José", "Li", "Aisha", "John"]),
        "last_name": "Tester-" + "".join(random.choice(string.ascii_lowercase) for _ in range(8)).title(),
        "date_of_birth": date(1980 + n % 20, 1 + n % 12, 1 + n % 28),
        "email": f"m{n}@example.org", "phone": f"617555{n % 10000:04d}", "plan_type": plan_type,
    }
    event = enrollment_event(
        enrollment_id=member["enrollment_id"], household_id=member["household_id"],
        plan_type=plan_type, coverage_year=start.year, coverage_start=start,
        plan_name="Test Silver Plan", carrier="Test Carrier", premium_cents=premium_cents, aptc=False,
        shopped_at=datetime.now(timezone.utc) - timedelta(hours=shopped_hours_ago),
        first_name=member["first_name"], last_name=member["last_name"],
        date_of_birth=member["date_of_birth"], ssn=member["ssn"], email=member["email"],
        phone=member["phone"], language="en")
    await publish(stack.infra.kafka_bootstrap, [event])
    account = await stack.wait_for_account(member["household_id"], plan_type, timeout_s=60)
    member["billing_account_number"] = account["billing_account_number"]
    if shopped_hours_ago >= 4:
        await wait_until_identity_knows(stack, member)
    return member


async def wait_until_identity_knows(stack, member: dict) -> None:
    """identity consumes the same enrollment (and billing's account.opened) on its own
    schedule; ask it directly, from addresses of its own so the tests' budget is untouched
    (a few tries only: identity also counts lookups per target)."""
    body = {"plan_type": member["plan_type"], "id_type": "enrollment_id",
            "id_value": member["enrollment_id"], "first_name": member["first_name"],
            "last_name": member["last_name"], "date_of_birth": member["date_of_birth"].isoformat()}
    async with aiohttp.ClientSession() as http:
        for attempt, pause_s in enumerate((0.5, 1, 1.5, 2, 3, 4)):
            async with http.post(f"{stack.identity_url}/lookups",
                                 json={**body, "client_ip": f"198.51.100.{attempt + 1}"}) as r:
                if r.status == 200:
                    return
            await asyncio.sleep(pause_s)
    raise TimeoutError(f"identity never found enrollment {member['enrollment_id']}")
