"""How every process of the system runs: uvloop's event loop, and a garbage collector set
for what a busy service allocates.

A consumer turns each event into a couple of dozen short-lived containers (the Kafka
record, the envelope, its data). With CPython's default thresholds (700, 10, 10) a batch of
5,000 events sets off hundreds of young collections, and the objects that survive them set
off older-generation collections, which walk every long-lived object the process holds,
the imported libraries' included. A young generation of 50,000 objects, and the start-up
heap moved out of the collector's sight once the process is up (`gc.freeze`), cut the
backbone consumer's CPU per event by about a third (bench/backbone.py prints it). Garbage
in reference cycles waits a little longer to be freed; memory use stays the same.
"""
from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 20)


def prepare() -> None:
    """Before the event loop starts: uvloop's loop, and the collector's thresholds."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; be lenient anyway
        pass
    gc.set_threshold(*GC_THRESHOLDS)


def settle() -> None:
    """Once started: collect what start-up left behind, then keep the rest (modules,
    settings, pools) out of every later collection."""
    gc.collect()
    gc.freeze()
