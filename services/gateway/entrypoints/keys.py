"""What the gateway's app holds, each under a typed key: the settings and the objects built
from them at start (app.py), which the routes read through `request.app[...]`; and what a
request carries from one middleware or helper to the next."""
from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from services.gateway.adapters.upstream import Upstreams
from services.gateway.config import Settings
from services.gateway.domain.tokens import Signer
from services.gateway.service_layer.deps import Deps

SETTINGS = web.AppKey("settings", Settings)
SIGNER = web.AppKey("signer", Signer)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
DEPS = web.AppKey("deps", Deps)  # set at start, once the sessions database is open
JINJA = web.AppKey("jinja", jinja2.Environment)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")

# Per request: the client's address once worked out, the logged-in member's session (None:
# nobody), and a CSRF cookie minted during the request that the response must set.
CLIENT_IP = web.RequestKey("client_ip", str)
MEMBER: web.RequestKey[dict[str, Any] | None] = web.RequestKey("member")
NEW_CSRF_COOKIE = web.RequestKey("new_csrf_cookie", str)
