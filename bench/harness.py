"""What every benchmark shares: the machine, private servers, per-process CPU, interleaved pairs.

A benchmark counts only the processes of its own run: the Celery workers and listener it
started (with their children), the PostgreSQL backends connected to its own database, and its
own ``redis-server``, started here on a free port. Nothing is found by process name.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

# Re-exported: the benchmarks import every shared helper from here.
from bench.databases import ADMIN_URL as ADMIN_URL
from bench.databases import backends as backends
from bench.databases import drop_databases as drop_databases
from bench.databases import fresh_database as fresh_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"


def machine() -> str:
    """Cores, CPU model, memory, Python and kernel of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateRedis:
    """A ``redis-server`` of this run alone, on a free port, keeping nothing on disk."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder, "--logfile", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        found = PrivateRedis(port, process)
        try:
            for _ in range(200):
                try:
                    found.client().ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.02)
            yield found
        finally:
            process.terminate()
            process.wait(timeout=10)


def tree(pid: int) -> Callable[[], list[int]]:
    """A function listing ``pid`` and its descendants, while it lives."""

    def pids() -> list[int]:
        try:
            root = psutil.Process(pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    return pids


def _cpu(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


@dataclass
class CpuMeter:
    """CPU seconds spent by groups of processes between :meth:`start` and :meth:`stop`.

    A sampler thread re-lists each group's pids every ``every`` seconds and remembers the
    last CPU figure of every pid it saw, so a process that exits mid-run (a pooled backend
    closed, a worker child recycled) still counts up to its last sample, and one born mid-run
    counts whole.
    """

    groups: dict[str, Callable[[], Iterable[int]]]
    every: float = 0.2
    _first: dict[tuple[str, int], float] = field(default_factory=dict)
    _last: dict[tuple[str, int], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self, first: bool = False) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                spent = _cpu(pid)
                if spent is None:
                    continue
                key = (name, pid)
                if first:
                    self._first[key] = spent
                self._last[key] = spent

    def start(self) -> CpuMeter:
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        spent = dict.fromkeys(self.groups, 0.0)
        for (name, pid), last in self._last.items():
            spent[name] += last - self._first.get((name, pid), 0.0)
        return spent


def interleave(
    pairs: int, ours: Callable[[], float], reference: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run ``ours`` then ``reference`` ``pairs`` times, alternating; return both lists."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        a.append(ours())
        b.append(reference())
    return a, b


@dataclass
class Figure:
    """One line of ``bench/results/summary.json``."""

    name: str
    value: float
    unit: str
    reference: float | None
    ratio: float | None
    target: str
    met: bool
    machine: str = field(default_factory=machine)
    load: list[float] = field(default_factory=load)
    runs: dict[str, list[float]] = field(default_factory=dict)
    notes: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def spread(values: list[float]) -> str:
    """``median (min–max)`` of a run's figures."""
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}–{max(values):,.1f})"


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any ``TWEETFEED_*`` variable, plus ``settings``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("TWEETFEED_")}
    return {**kept, **settings}


def wait_consuming(
    client: redis.Redis, queues: str, worker: subprocess.Popen[bytes], log: Path
) -> None:
    """Return once the Celery ``worker`` has declared each of ``queues`` (comma-separated) in
    its broker, ``client``: kombu's Redis transport writes ``_kombu.binding.<queue>`` as the
    consumer starts, the last step of a worker's boot. Boot time is never measured."""
    names = queues.split(",")
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited {worker.returncode}:\n{tail(log)}")
        if client.exists(*(f"_kombu.binding.{q}" for q in names)) == len(names):
            time.sleep(0.5)  # the pool's processes finish starting
            return
        time.sleep(0.05)
    raise RuntimeError(f"worker not consuming {queues} after 120 s:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


@contextmanager
def started(args: list[str], log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process writing stdout and stderr to ``log``; TERM then KILL it on the way out."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **popen)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
