"""What a delivery channel reports back: sent (with the provider's id) or an error that is
worth retrying (the server is down, busy, timed out) or not (the address is refused)."""
from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered. `permanent` errors are never retried."""

    permanent = False


class TransientDeliveryError(DeliveryError):
    permanent = False


class PermanentDeliveryError(DeliveryError):
    permanent = True
