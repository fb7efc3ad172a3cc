"""The project's common package: event contracts and the plumbing every service shares.

Nothing domain-specific lives here: `contracts/` is the public language between services
(envelope, topics, event payloads) and the other modules are infrastructure (outbox,
idempotent consumers, migrations, logging, the operations HTTP server).
"""
