"""The API docs page (/api/docs): rendered on the server from the generated OpenAPI
document, so it works offline (no CDN, no script)."""
from __future__ import annotations

import orjson
from aiohttp import web

from services.gateway.entrypoints import keys


async def api_docs(request: web.Request) -> web.Response:
    doc = request.app[keys.OPENAPI]
    operations = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            operations.append({"method": method.upper(), "path": path, "summary": op["summary"],
                               "body": body.get("$ref", "").rsplit("/", 1)[-1],
                               "responses": op["responses"], "security": op.get("security")})
    schemas = {name: orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode()
               for name, schema in doc["components"]["schemas"].items()}
    html = request.app[keys.JINJA].get_template("api_docs.html").render(
        doc=doc, operations=operations, schemas=schemas, lang="en", t=lambda k, **_: k)
    return web.Response(text=html, content_type="text/html")


def install(app: web.Application) -> None:
    app.router.add_get("/api/docs", api_docs)
