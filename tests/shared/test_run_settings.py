"""`make run` for operators: settings in the environment win over its defaults."""
from __future__ import annotations

from pathlib import Path

from scripts import run
from scripts.stack import DATABASES, Ports, StackConfig


def config(ports: Ports) -> StackConfig:
    return StackConfig(kafka_bootstrap="127.0.0.1:9092", dsn_of={d: f"postgresql:///{d}" for d in DATABASES},
                       state_dir=Path("/nonexistent"), ports=ports, service_keys={})


def test_ports_public_url_and_captcha_from_the_environment_win():
    env = {"GATEWAY_HTTP_PORT": "9080", "NOTIFY_HTTP_PORT": "9084", "SANDBOX_SMTP_PORT": "2525",
           "PUBLIC_URL": "https://portal.example.org", "GATEWAY_CAPTCHA_ENABLED": "false",
           "NOTIFY_SMTP_HOST": "smtp.internal", "UNRELATED": "x", "PYTHONPATH": "/elsewhere"}
    ports = run.ports_from_environment(env)
    assert (ports.gateway, ports.notify, ports.smtp, ports.identity) == (9080, 9084, 2525, 8081)
    stack = config(ports)
    stack.extra_env.update(run.operator_settings(stack, env))
    given = stack.environment()
    assert given["PUBLIC_URL"] == "https://portal.example.org"
    assert given["GATEWAY_CAPTCHA_ENABLED"] == "false"
    assert given["NOTIFY_SMTP_HOST"] == "smtp.internal"
    assert given["GATEWAY_HTTP_PORT"] == "9080" and given["NOTIFY_SMTP_PORT"] == "2525"
    assert "UNRELATED" not in given and given["PYTHONPATH"] != "/elsewhere"


def test_without_settings_the_defaults_stand():
    ports = run.ports_from_environment({})
    assert ports == Ports()
    stack = config(ports)
    assert run.operator_settings(stack, {}) == {}
    assert stack.environment()["PUBLIC_URL"] == "http://127.0.0.1:8080"
    assert stack.environment()["GATEWAY_CAPTCHA_ENABLED"] == "true"
