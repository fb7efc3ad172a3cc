"""python -m sandboxes: the outside world in one process (HTTP on 8085, SMTP on 1025).

Routes: /mail/ (caught email, readable in a browser), /sms/, /card/, /bank/, and /healthz,
/readyz for the launcher.
"""
import asyncio
import importlib
import logging
import signal

from aiohttp import web

from sandboxes.settings import SandboxSettings
from shared.files import private_dir
from shared.http import errors_middleware, json_response
from shared.logging import configure_logging

log = logging.getLogger("sandboxes")
PARTS = ("mail", "sms", "card", "bank")


SETTINGS = web.AppKey("settings", SandboxSettings)
MOUNTED = web.AppKey("mounted", list[str])  # the sandboxes this process serves


def build_app(settings: SandboxSettings) -> web.Application:
    app = web.Application(middlewares=[errors_middleware])
    app[SETTINGS] = settings
    mounted: list[str] = []
    for part in PARTS:
        try:
            module = importlib.import_module(f"sandboxes.{part}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sandboxes.{part}":
                raise
            continue
        module.register(app, settings)
        mounted.append(part)
    app[MOUNTED] = mounted

    async def healthz(_: web.Request) -> web.Response:
        return json_response({"status": "ok", "sandboxes": mounted})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    return app


async def main() -> None:
    settings = SandboxSettings()
    private_dir(settings.data_dir)
    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("sandboxes started", extra={"port": settings.http_port})
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    configure_logging("sandboxes")
    asyncio.run(main())
