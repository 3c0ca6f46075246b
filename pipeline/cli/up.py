"""``tweetfeed up``: the whole Procfile through honcho, on embedded defaults where unset."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from pipeline.cli import embedded
from pipeline.fakes import synth
from pipeline.store.engine import make_engine
from pipeline.store.migrate import upgrade

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
DEMO_TWEETS = 20_000


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _environment(var: Path) -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    env = dict(os.environ)
    redis_process = None
    if not env.get("TWEETFEED_REDIS_URL"):
        redis_process, env["TWEETFEED_REDIS_URL"] = embedded.start_redis(var)
        print(f"embedded redis: {env['TWEETFEED_REDIS_URL']} (data in {var}/)", flush=True)
    if not env.get("TWEETFEED_DATABASE_URL"):
        env["TWEETFEED_DATABASE_URL"] = embedded.sqlite_url(var)
        print(f"embedded database: {env['TWEETFEED_DATABASE_URL']}", flush=True)
    env["TWEETFEED_VAR_DIR"] = str(var.resolve())
    return env, redis_process


def _demo_file(var: Path) -> Path:
    path = var / "demo.jsonl"
    if not path.exists():
        count = synth.write(path, DEMO_TWEETS, "v1", seed=1)
        print(f"generated {count} sample stream lines in {path}", flush=True)
    return path


def up(var: Path, replay: str | None = None, demo: bool = False) -> int:
    """Start embedded services if unset, migrate, run the Procfile; return honcho's exit code."""
    env, redis_process = _environment(var)
    try:
        engine = make_engine(env["TWEETFEED_DATABASE_URL"])
        upgrade(engine)
        engine.dispose()
        processes = read_procfile()
        processes.pop("release", None)
        if demo and replay is None:
            replay = str(_demo_file(var))
        if replay is not None:
            processes["listener"] = (
                f"tweetfeed listen --from-file {shlex.quote(replay)} --then-watch"
            )
        manager = Manager(Printer(sys.stdout))
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        for name, command in processes.items():
            manager.add_process(name, command, env=env)
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
