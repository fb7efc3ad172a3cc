"""CPU seconds spent by named groups of processes over a stretch of a benchmark (Linux /proc).

    sampler = CpuSampler({"consumer": [pid], "postgres": postgres_pids(profile)})
    sampler.start(); ...; print(sampler.stop())   # {"consumer": 1.92, "postgres": 2.4}

A group's figure is the user + system time its processes used between `start` and `stop`;
a process that exits in between is not counted (so sample groups whose processes live for
the whole stretch), unless the group names the process that reaps it (`reapers`: for a
whole PostgreSQL cluster its postmaster, whose backends come and go with the clients'
connections). `postgres_pids` and `kafka_pids` find a bench profile's servers, so the same
figures can be taken of every process a round uses.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process; None when it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def reaped_seconds(pid: int) -> float:
    """User + system CPU seconds of the children a live process has reaped (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime


def postmaster_pid(state: Path) -> int:
    return int((state / "pg" / "postmaster.pid").read_text().split()[0])


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (the gateway's workers, say); [] when it has gone."""
    try:
        kids = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []
    return [pid, *(g for k in kids for g in process_tree(k))]


def postgres_pids(state: Path, database: str | None = None,
                  excluding: tuple[str, ...] = ()) -> list[int]:
    """Processes of the cluster under `state`/pg: with `database`, the backends connected to
    it; without, the postmaster and all its processes (WAL writer, checkpointer, autovacuum,
    backends) except the backends of the `excluding` databases."""
    master = postmaster_pid(state)
    pids = [master, *children(master)]
    if database is not None:
        return [pid for pid in pids if _database_of(pid) == database]
    return [pid for pid in pids if _database_of(pid) not in excluding]


def _database_of(pid: int) -> str | None:
    # A backend's process title: "postgres: <user> <database> <client> <state>".
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return title[2] if len(title) > 3 and title[0] == "postgres:" and "(" in title[3] else None


def kafka_pids(state: Path) -> list[int]:
    return [int((state / "kafka" / "kafka.pid").read_text().strip())]


class CpuSampler:
    def __init__(self, groups: dict[str, list[int] | Callable[[], list[int]]],
                 reapers: dict[str, int] | None = None) -> None:
        # A group is a list of pids or a function returning one (called at each sample, so
        # processes started after `start`, such as new database backends, are counted too).
        # A group given a reaper (the parent of all its short-lived processes) also counts
        # those that exited between `start` and `stop`, by what the reaper reaped.
        self.groups = groups
        self.reapers = reapers or {}
        self._first: dict[str, dict[int, float]] = {}
        self._first_reaped: dict[str, float] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        out = {}
        for name, pids in self.groups.items():
            seconds = {pid: cpu_seconds(pid) for pid in (pids() if callable(pids) else pids)}
            out[name] = {pid: t for pid, t in seconds.items() if t is not None}
        return out

    def _reaped(self) -> dict[str, float]:
        return {name: reaped_seconds(pid) for name, pid in self.reapers.items()}

    def start(self) -> None:
        self._first = self._sample()
        self._first_reaped = self._reaped()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since `start`. A process keeps the group it had at `start`
        (a database backend whose title changes as it exits is not counted twice)."""
        reaped = self._reaped()
        last = self._sample()
        owner = {pid: name for name, pids in self._first.items() for pid in pids}
        figures = {name: sum(t - self._first[name].get(pid, 0.0) for pid, t in pids.items()
                             if owner.get(pid, name) == name)
                   for name, pids in last.items()}
        for name in self.reapers:
            # Reaped since `start`: whole lives, less what those alive at `start` had used.
            gone = sum(t for pid, t in self._first.get(name, {}).items()
                       if pid not in last.get(name, {}))
            figures[name] += reaped[name] - self._first_reaped[name] - gone
        return figures
