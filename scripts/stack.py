"""Starts the whole system as separate processes: the sandboxes, four services, the gateway.

Used by `make run` (scripts/run.py) and by the end-to-end and browser tests
(tests/stack.py), so both exercise the same wiring. Every process gets its settings through
the environment, as in production; nothing here reaches into a service's code.

Every run has service keys of its own (`SERVICE_KEYS`, shared/service_auth.py): random ones
made here, or those `make run` keeps in `.state/run/service-keys.json` (owner-only) so a
second run reuses them.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.service_auth import CALLERS, TokenSigner, generate_keys  # noqa: E402

# (name, python -m module, env prefix)
PROCESSES = (
    ("sandboxes", "sandboxes", "SANDBOX"),
    ("identity", "services.identity", "IDENTITY"),
    ("billing", "services.billing", "BILLING"),
    ("payments", "services.payments", "PAYMENTS"),
    ("notify", "services.notify", "NOTIFY"),
    ("gateway", "services.gateway", "GATEWAY"),
)
DATABASES = ("identity", "billing", "payments", "notify", "gateway")


@dataclass
class Ports:
    gateway: int = 8080
    identity: int = 8081
    billing: int = 8082
    payments: int = 8083
    notify: int = 8084
    sandboxes: int = 8085
    smtp: int = 1025

    @classmethod
    def offset(cls, delta: int) -> Ports:
        base = cls()
        return cls(**{k: v + delta for k, v in vars(base).items()})

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self, name)}"


@dataclass
class StackConfig:
    kafka_bootstrap: str
    dsn_of: dict[str, str]          # service -> database URL
    state_dir: Path                 # where ACH files, sandbox data and logs go
    ports: Ports = field(default_factory=Ports)
    captcha_enabled: bool = True
    app_env: str = "development"
    extra_env: dict[str, str] = field(default_factory=dict)
    # Settings of one process only, over the rest: its own Kafka user and password, say.
    process_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # caller -> {key id: secret}; every process gets them as SERVICE_KEYS.
    service_keys: dict[str, dict[str, str]] = field(default_factory=generate_keys)

    def signer(self, caller: str = "operator") -> TokenSigner:
        """Tokens as `caller`, for whoever drives this stack (the launcher, the tests)."""
        return TokenSigner.from_keys(self.service_keys, caller)

    def environment(self, process: str | None = None) -> dict[str, str]:
        """Every process's settings, and `process`'s own ones when it is named."""
        p = self.ports
        ach_out = self.state_dir / "ach" / "outbound"
        ach_ret = self.state_dir / "ach" / "returns"
        env = {
            "APP_ENV": self.app_env,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            # sandboxes: the outside world
            "SANDBOX_HTTP_PORT": str(p.sandboxes), "SANDBOX_SMTP_PORT": str(p.smtp),
            "SANDBOX_DATA_DIR": str(self.state_dir / "sandbox"),
            "SANDBOX_ACH_OUTBOUND_DIR": str(ach_out), "SANDBOX_ACH_RETURNS_DIR": str(ach_ret),
            # payments <-> bank and card processor
            "PAYMENTS_ACH_OUTBOUND_DIR": str(ach_out), "PAYMENTS_ACH_RETURNS_DIR": str(ach_ret),
            "PAYMENTS_CARD_PROCESSOR_URL": f"{p.url('sandboxes')}/card",
            # notify -> SMTP catcher and SMS provider
            "NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(p.smtp),
            "NOTIFY_SMS_PROVIDER_URL": f"{p.url('sandboxes')}/sms",
            # gateway -> services
            "GATEWAY_IDENTITY_URL": p.url("identity"), "GATEWAY_BILLING_URL": p.url("billing"),
            "GATEWAY_PAYMENTS_URL": p.url("payments"), "GATEWAY_NOTIFY_URL": p.url("notify"),
            "GATEWAY_CAPTCHA_ENABLED": "true" if self.captcha_enabled else "false",
            "PUBLIC_URL": p.url("gateway"),
            "SERVICE_KEYS": json.dumps(self.service_keys),
        }
        for name, prefix in ((n, pre) for n, _, pre in PROCESSES if n != "sandboxes"):
            env[f"{prefix}_HTTP_PORT"] = str(getattr(p, name))
            if process in (None, name):  # a process is given its own database's URL only
                env[f"{prefix}_DATABASE_URL"] = self.dsn_of[name]
        env.update(self.extra_env)
        env.update(self.process_env.get(process or "", {}))
        return env


def kept_service_keys(path: Path) -> dict[str, dict[str, str]]:
    """The service keys stored at `path` (owner-only), made and stored on the first run; a
    caller missing from the file (one added since) gets a key of its own."""
    keys: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    fresh = generate_keys()
    missing = {caller: fresh[caller] for caller in CALLERS if not keys.get(caller)}
    if missing or not path.exists():
        keys.update(missing)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)
        os.replace(path.with_suffix(".tmp"), path)
    os.chmod(path, 0o600)
    return keys


class Stack:
    """The running processes; `start()`, `await wait_ready()`, `stop()`."""

    def __init__(self, config: StackConfig, only: tuple[str, ...] | None = None) -> None:
        self.config = config
        self.only = only
        self.procs: dict[str, subprocess.Popen] = {}
        self.log_dir = config.state_dir / "logs"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for d in ("ach/outbound", "ach/returns", "sandbox"):
            (self.config.state_dir / d).mkdir(parents=True, exist_ok=True)
        for name, module, _ in PROCESSES:
            if self.only and name not in self.only:
                continue
            self.start_one(name, module, {**os.environ, **self.config.environment(name)})

    def start_one(self, name: str, module: str, env: dict[str, str]) -> None:
        # The child writes to its own copy of the file; this process keeps none open.
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env,
                                                stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def restart(self, name: str) -> None:
        module = dict((n, m) for n, m, _ in PROCESSES)[name]
        self.stop_one(name)
        self.start_one(name, module, {**os.environ, **self.config.environment(name)})

    async def wait_ready(self, timeout_s: float = 120.0, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names or self.procs)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while pending:
                for name in sorted(pending):
                    proc = self.procs[name]
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with {proc.returncode}; "
                                           f"see {self.log_dir / (name + '.log')}:\n"
                                           + self.tail(name))
                    try:
                        async with http.get(f"{self.config.ports.url(name)}/readyz") as r:
                            if r.status == 200:
                                pending.discard(name)
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout_s} s: {sorted(pending)}")
                if pending:
                    await asyncio.sleep(0.3)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_one(self, name: str, timeout_s: float = 15.0) -> None:
        self.stop_together([name], timeout_s)

    def stop(self) -> None:
        # Extra processes started with start_one and the gateway first, then the services
        # together (none calls another), the sandboxes last: nothing calls a process already
        # gone.
        known = [n for n, _, _ in PROCESSES]
        services = [n for n in known if n not in ("gateway", "sandboxes")]
        for wave in ([n for n in self.procs if n not in known] + ["gateway"], services, ["sandboxes"]):
            self.stop_together(wave)

    def stop_together(self, names: list[str], timeout_s: float = 15.0) -> None:
        procs = [p for p in (self.procs.pop(n, None) for n in names) if p is not None and p.poll() is None]
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
