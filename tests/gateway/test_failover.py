"""Two replicas of payments behind the gateway (`GATEWAY_PAYMENTS_URL` a comma-separated
list), one of them killed: calls that are safe to repeat (GETs, payments with their
Idempotency-Key) go to the other, and the member sees no error."""
from __future__ import annotations

from aiohttp.test_utils import TestServer

from tests.gateway import fakes
from tests.gateway.conftest import _client
from tests.gateway.test_api import lookup_token, payment


async def test_a_killed_payments_replica_costs_the_member_nothing(gateway_db, upstream):
    # A second replica over the same state, as two processes over one database.
    replica = TestServer(fakes.payments_app(upstream))
    await replica.start_server()
    second_url = str(replica.make_url("")).rstrip("/")
    upstream.urls = {**upstream.urls, "payments": f"{upstream.urls['payments']},{second_url}"}
    gw = await _client(gateway_db, upstream, captcha_enabled=False)
    try:
        token = (await lookup_token(gw))["lookup_token"]
        auth = {"Authorization": f"Bearer {token}"}
        first = await gw.post("/api/v1/payments", json=payment(),
                              headers={**auth, "Idempotency-Key": "k-failover-1"})
        assert first.status == 201, await first.text()
        await replica.close()  # killed: its port refuses connections now
        answers = []
        for i in range(6):  # round robin would send half of these to the dead replica
            r = await gw.post("/api/v1/payments", json=payment(),
                              headers={**auth, "Idempotency-Key": f"k-failover-{i + 2}"})
            answers.append(r.status)
            view = await gw.get(f"/api/v1/payments/{(await r.json())['payment_id']}", headers=auth)
            assert view.status == 200
        assert answers == [201] * 6
        again = await gw.post("/api/v1/payments", json=payment(),
                              headers={**auth, "Idempotency-Key": "k-failover-1"})
        assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert (await again.json())["payment_id"] == (await first.json())["payment_id"]
        assert len(upstream.payments) == 7
    finally:
        await gw.close()
        await replica.close()


async def test_with_every_replica_gone_the_member_is_told_to_try_again(gateway_db, upstream):
    gone = TestServer(fakes.payments_app(upstream))
    await gone.start_server()
    gone_url = str(gone.make_url("")).rstrip("/")
    await gone.close()
    upstream.urls = {**upstream.urls, "payments": f"{gone_url},{gone_url}"}
    gw = await _client(gateway_db, upstream, captcha_enabled=False)
    try:
        token = (await lookup_token(gw))["lookup_token"]
        r = await gw.post("/api/v1/payments", json=payment(),
                          headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-gone"})
        assert r.status == 503
        assert upstream.payments == {}
    finally:
        await gw.close()
