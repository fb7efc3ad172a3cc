"""Prometheus metrics of the backbone, shared by every service (one registry per process)."""
from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka")
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled by idempotent consumers",
                          ["group", "outcome"])
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
