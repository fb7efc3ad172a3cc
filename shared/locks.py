"""Every PostgreSQL advisory lock id the project takes, in one registry.

Advisory locks are per database and each service has its own, so two ids only clash
within one service's database; they are kept distinct over the whole project anyway
(`tests/shared/test_locks.py` checks), so an id names one thing wherever it is read in
`pg_locks`. Take them with `shared.db.advisory_lock`. An id, once used, keeps its meaning:
a replica of the old release and one of the new may run side by side during a rollout.
"""
from __future__ import annotations

from typing import Final

# Applying migrations to a service's database: replicas starting together wait on it, so
# each file is applied once (shared/db.py `migrate`).
MIGRATIONS: Final = 7_100_001
# Leading the outbox relay: one replica publishes, so one key's events keep their order
# on the topic (shared/outbox.py).
OUTBOX_RELAY: Final = 7_100_002

# One autopay run at a time, however it was started (scheduler or operator's CLI), so a
# mandate is never drafted by two runs at once (payments service_layer/autopay.py).
PAYMENTS_AUTOPAY: Final = 7_105_001
# One ACH cutoff at a time: the day's NACHA file is written once (payments
# service_layer/ach.py).
PAYMENTS_CUTOFF: Final = 7_105_002
# Measuring the ACH return rates and recording their levels, as a transaction lock: two
# return intakes at once take turns, so a rate crossing a line is announced once (payments
# service_layer/return_rates.py).
PAYMENTS_RETURN_RATES: Final = 7_105_003
# One refund file run at a time, as a transaction lock: the day's ACH refund file is
# written once (payments service_layer/refunds.py).
PAYMENTS_REFUND_FILE: Final = 7_105_010

# Each service's daily scheduler (`Service.daily`): the replica holding it runs the day's
# jobs while the others wait for the next poll.
BILLING_SCHEDULER: Final = 7_200_201
PAYMENTS_SCHEDULER: Final = 7_200_301
NOTIFY_SCHEDULER: Final = 7_200_401
