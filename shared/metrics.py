"""Prometheus metrics of the backbone, shared by every service (one registry per process)."""
from prometheus_client import Counter, Histogram

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
