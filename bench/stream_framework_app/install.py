"""Stream-Framework's venv (``var/bench/stream-framework-venv``): built on first use, and again
whenever ``requirements.txt`` or ``PATCHES`` change. Run from tweetfeed's venv, by
``bench.stream_framework``; the other modules of this folder run inside the venv it builds.

1.4.0 (2016) predates Python 3.10 and redis-py 3, and today's Celery needs redis-py 6.1 or
later, so the installed source is patched in five places, each of which must match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.harness import WORK, tail

APP = Path(__file__).resolve().parent
VENV = WORK / "stream-framework-venv"

# (file under stream_framework/, pattern, replacement)
PATCHES = [
    # ``async`` is a reserved word since Python 3.7.
    ("feed_managers/base.py", r"\basync\b", "async_"),
    # collections.Hashable went away in Python 3.10 (``import collections.abc`` binds both).
    ("utils/__init__.py", r"collections\.Hashable", "collections.abc.Hashable"),
    ("utils/__init__.py", r"(?m)^import collections$", "import collections.abc"),
    # redis-py 3 renamed BasePipeline and made ZADD take a mapping of member to score.
    ("storage/redis/structures/base.py", r"import BasePipeline", "import Pipeline as BasePipeline"),
    (
        "storage/redis/structures/sorted_set.py",
        r"redis\.zadd\(key, \*score_value_chunk\)",
        "redis.zadd(key, dict(zip(score_value_chunk[1::2], score_value_chunk[0::2])))",
    ),
]


def ensure_venv(log: Path) -> Path:
    """The venv's Python, building and patching the venv first unless it is current."""
    python = VENV / "bin" / "python"
    wanted = (APP / "requirements.txt").read_text() + repr(PATCHES)
    stamp = VENV / ".bench-ready"
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        # 1.4.0's setup.py imports setuptools.command.test, which setuptools 72 removed.
        [*pip, "setuptools>=65,<70", "wheel"],
        [*pip, "--no-build-isolation", "-r", str(APP / "requirements.txt")],
    ]
    with log.open("wb") as out:
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError(f"{' '.join(step)} failed:\n{tail(log)}")
    (package,) = (VENV / "lib").glob("python3*/site-packages/stream_framework")
    for name, pattern, replacement in PATCHES:
        path = package / name
        source, found = re.subn(pattern, replacement, path.read_text())
        if not found:
            raise RuntimeError(f"Stream-Framework patch {pattern!r} found nothing in {path}")
        path.write_text(source)
    # Byte-compile what was patched (its own tests still use ``async`` and are never imported).
    compile_all = [str(python), "-m", "compileall", "-q", "-x", "/tests/", str(package)]
    subprocess.run(compile_all, check=True)
    stamp.write_text(wanted)
    return python
