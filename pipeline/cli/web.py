"""``tweetfeed web`` (the status page and feed API on uvicorn) and ``tweetfeed flower``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from pipeline.settings import Settings


def add_parsers(sub: Any) -> None:
    web = sub.add_parser("web", help="the status page and feed API (FastAPI on uvicorn)")
    web.add_argument("--host", help="address to listen on (TWEETFEED_WEB_HOST)")
    web.add_argument("--port", type=int, help="port (TWEETFEED_WEB_PORT)")
    web.add_argument("--workers", type=int, help="processes (TWEETFEED_WEB_WORKERS; one a core)")
    flower = sub.add_parser("flower", help="Flower on the project's Celery app")
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--address", default="127.0.0.1")


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from pipeline.web.app import create_app

    host = args.host or settings.web_host
    port = args.port or settings.web_port
    workers = args.workers or settings.web_workers or os.cpu_count() or 1
    if workers == 1:
        uvicorn.run(create_app(settings, bind_host=host), host=host, port=port, log_level="info",
                    access_log=settings.web_access_log)  # fmt: skip
        return 0
    # Worker processes build the app from the environment (uvicorn needs an import string),
    # so the address this command was given goes there for the write rule.
    os.environ["TWEETFEED_WEB_HOST"] = host
    uvicorn.run("pipeline.web.app:app_from_env", factory=True, workers=workers, host=host,
                port=port, log_level="info", access_log=settings.web_access_log)  # fmt: skip
    return 0


def cmd_flower(args: argparse.Namespace, settings: Settings) -> int:
    """Exec Flower on ``workers``; TWEETFEED_FLOWER_AUTH becomes its basic auth.

    The credentials go through Flower's environment, not its argv, so ``ps`` never shows them.
    """
    env = dict(os.environ)
    if settings.flower_auth:
        env["FLOWER_BASIC_AUTH"] = settings.flower_auth
    celery = shutil.which("celery", path=os.path.dirname(sys.executable)) or "celery"
    argv = [celery, "-A", "workers", "flower", f"--port={args.port}", f"--address={args.address}"]
    os.execvpe(celery, argv, env)
