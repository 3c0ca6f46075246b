"""A PostgreSQL server of the fault suite's own, on a free loopback port, which a scenario may
restart or crash; and the suite's table of counts."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port, wait_until


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


class PrivatePostgres:
    """``initdb`` into a folder of the suite and ``pg_ctl`` on a free port (trust auth, as the
    ``postgres`` user). When the suite runs as root, the server runs as the ``postgres`` OS
    user, as PostgreSQL requires."""

    def __init__(
        self, folder: Path, listen: tuple[str, ...] = ("127.0.0.1",), trust: tuple[str, ...] = ()
    ) -> None:
        from tests.conftest import unavailable

        bin_dir = _postgres_bin()
        if bin_dir is None:
            unavailable("PostgreSQL's initdb", FileNotFoundError("no pg_ctl on this machine"))
        assert bin_dir is not None
        self.bin, self.folder, self.port = bin_dir, folder, free_port()
        self.data = folder / "data"
        folder.mkdir(parents=True, exist_ok=True)
        self._as = []
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self.listen = listen
        with (self.data / "pg_hba.conf").open("a") as hba:  # clients from these networks too
            hba.writelines(f"host all all {network} trust\n" for network in trust)

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    @property
    def _options(self) -> str:
        return f"-p {self.port} -k {self.folder} -c listen_addresses={','.join(self.listen)}"

    def start(self) -> PrivatePostgres:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options, "-l",
                  str(self.folder / "server.log"), "-w", "start")  # fmt: skip
        return self

    def crash_and_restart(self) -> None:
        """``-m immediate``: the server stops as in a crash and recovers from its WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        from sqlalchemy import text

        from pipeline.store.engine import make_engine
        from pipeline.store.migrate import upgrade

        admin = make_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(self.url(name))
        upgrade(engine)
        engine.dispose()
        return self.url(name)


@dataclass
class Row:
    """One scenario's counts: what the table prints."""

    scenario: str
    sent: int = 0  # distinct tweets sent (less those deleted)
    stored: int = 0
    dead_letters: int = 0
    dead_expected: int = 0
    lost: int = 0
    doubled: int = 0
    undeleted: int = 0
    feeds: int = 0
    feeds_exact: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return (
            not self.lost
            and not self.doubled
            and not self.undeleted
            and self.dead_letters == self.dead_expected
            and self.feeds == self.feeds_exact
        )


ROWS: list[Row] = []
HEADER = ("scenario", "sent", "stored", "dead-lettered", "lost", "doubled", "undeleted",
          "feeds", "feeds exact", "result")  # fmt: skip


def table() -> str:
    lines = [HEADER]
    for r in ROWS:
        dead = f"{r.dead_letters}/{r.dead_expected}"
        lines.append((r.scenario, str(r.sent), str(r.stored), dead, str(r.lost), str(r.doubled),
                      str(r.undeleted), str(r.feeds), str(r.feeds_exact),
                      "exact" if r.exact else "WRONG"))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                     for line in lines)  # fmt: skip


def wait_for_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from pipeline.store.engine import make_engine

    engine = make_engine(url)

    def answers() -> bool:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False

    wait_until(answers, 30, "PostgreSQL to answer")
    engine.dispose()
