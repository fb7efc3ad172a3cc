"""Prometheus metrics of the backbone, shared by every service (one registry per process)."""
import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka")
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled by idempotent consumers",
                          ["group", "outcome"])
EVENTS_SKIPPED = Counter("events_skipped_total", "Consumed events of a type the consumer has no "
                         "handler for; registered: whether the topic's contract lists the type",
                         ["group", "event_type", "registered"])
CONSUME_BATCH_SECONDS = Histogram("consume_batch_seconds", "Time to handle one consumed batch",
                                  ["group"])
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served", ["route", "status"])
HTTP_LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["route"],
                         buckets=(.001, .0025, .005, .0075, .01, .015, .02, .025, .035, .05, .1, .25, .5, 1, 2.5))

# Read when /metrics is scraped (Service.collect_metrics), so they are current, not counted.
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published to Kafka")
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds",
                          "Age of the oldest outbox row not yet published (0 when empty)")
CONSUMER_LAG = Gauge("consumer_lag", "Records on a partition this process has not yet consumed",
                     ["group", "topic", "partition"])
JOB_LAST_DATE = Gauge("job_last_business_date_seconds",
                      "The latest business date a daily job has completed (midnight UTC of it, as a Unix time)",
                      ["job"])
JOB_RUNS = Counter("job_runs_total", "Daily job runs by the service's scheduler, by outcome",
                   ["job", "outcome"])
JOB_SECONDS = Histogram("job_duration_seconds", "How long a daily job's run took", ["job"],
                        buckets=(.1, .5, 1, 5, 15, 60, 300, 900, 1800, 3600))
BACKGROUND_RESTARTS = Counter("background_job_restarts_total",
                              "Background jobs (schedulers, senders) that crashed and restarted", ["job"])


@contextlib.contextmanager
def job_run(job: str) -> Iterator[None]:
    """Count and time one run of a daily job (outcome ok or failed)."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        JOB_RUNS.labels(job, "failed").inc()
        raise
    finally:
        JOB_SECONDS.labels(job).observe(time.perf_counter() - started)
    JOB_RUNS.labels(job, "ok").inc()
