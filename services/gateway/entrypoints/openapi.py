"""A small route registry: each API route names its request and response models, and the
OpenAPI 3.1 document is generated from them (pydantic JSON schema)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.gateway.schemas import PATH_PARAMETERS, ErrorResponse

PREFIX = "/api/v1"


@dataclass
class Route:
    method: str
    path: str
    handler: Callable
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    auth: str | None = None
    headers: tuple[str, ...] = ()


class Registry:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str, summary: str, **kwargs: Any):
        def register(handler: Callable) -> Callable:
            self.routes.append(Route(method, path, handler, summary, **kwargs))
            return handler
        return register

    def install(self, app: web.Application) -> None:
        for r in self.routes:
            app.router.add_route(r.method, PREFIX + r.path, r.handler)

    def document(self, server_url: str = "/") -> dict[str, Any]:
        models = {ErrorResponse}
        for r in self.routes:
            if r.body:
                models.add(r.body)
            models.update(m for m in r.responses.values() if m)
        _, top = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                    ref_template="#/components/schemas/{model}")
        paths: dict[str, Any] = {}
        for r in self.routes:
            op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__,
                                  "responses": {}}
            names = [p.strip("{}") for p in r.path.split("/") if p.startswith("{")]
            params = [{"name": n, "in": "path", "required": True, "schema": PATH_PARAMETERS[n]}
                      for n in names]
            params += [{"name": h, "in": "header", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 128,
                                   "pattern": r"^[\x21-\x7e]+$"}}
                       for h in r.headers]
            if params:
                op["parameters"] = params
            if r.body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}}}
            for status, model in r.responses.items():
                resp: dict[str, Any] = {"description": "Success"}
                if model:
                    resp["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
                op["responses"][str(status)] = resp
            errors = dict(r.errors)
            if names:
                errors.setdefault(404, "Not found: a malformed id answers as an unknown one")
            if r.headers:
                errors[400] = "idempotency_key_required: send an Idempotency-Key header"
            if r.body:
                errors.update({413: "body_too_large (over 64 KiB)",
                               415: "unsupported_media_type: send the body as application/json"})
            errors.update({405: "method_not_allowed (the Allow header lists the methods)",
                           422: "Invalid input", 429: "Too many requests",
                           503: "A service is not answering"})
            for status, text in sorted(errors.items()):
                op["responses"].setdefault(str(status), {
                    "description": text, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}})
                if status == 405:
                    op["responses"]["405"]["headers"] = {"Allow": {
                        "required": True, "description": "The methods this path takes",
                        "schema": {"type": "string"}}}
            if r.auth:
                op["security"] = [{"lookupToken": []}, {"memberSession": []}] if r.auth == "account" \
                    else [{"memberSession": []}]
            paths.setdefault(PREFIX + r.path, {})[r.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": "Premium payment portal API", "version": "1.0.0",
                     "description": "Pay Health and Dental premiums with or without a login. "
                                    "Money is a decimal string; errors are {error: {code, message, fields}}."},
            "servers": [{"url": server_url}],
            "paths": paths,
            "components": {
                "schemas": top.get("$defs", {}),
                "securitySchemes": {
                    "lookupToken": {"type": "http", "scheme": "bearer",
                                    "description": "The lookup_token of POST /lookups (15 minutes, one account)"},
                    "memberSession": {"type": "apiKey", "in": "cookie", "name": "__Host-gw_session",
                                      "description": "Set by POST /sessions (gw_session over plain "
                                                     "HTTP in development)"}},
            },
        }
