"""Public event contracts: the envelope, the topic registry and each producer's payloads."""
from shared.contracts.envelope import HEADER_EVENT_TYPE, HEADER_EVENT_VERSION, Envelope

__all__ = ["Envelope", "HEADER_EVENT_TYPE", "HEADER_EVENT_VERSION"]
