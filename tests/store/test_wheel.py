"""The built wheel, installed in a fresh venv away from the checkout, runs ``tweetfeed migrate``.

The wheel is built without build isolation (no network): the setuptools of the running
interpreter must satisfy pyproject's build-system requirement (the ``dev`` extra brings one).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from packaging.requirements import Requirement

from tests.helpers import ROOT, clean_env

# Not needed to build the wheel, and big (var/) or busy (other people's build/ and egg-info).
LEFT_OUT = {".git", ".venv", "var", "tests", "bench", "build", "dist", "node_modules"}
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*cache", ".hypothesis")


def _unbuildable() -> str | None:
    """Why this interpreter cannot build the wheel offline, or None when it can."""
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for requirement in map(Requirement, build_system["requires"]):
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return f"{requirement.name} is not installed (pip install -e '.[dev]')"
        if not requirement.specifier.contains(version, prereleases=True):
            return f"{requirement.name} is {version}, not {requirement} (pip install -e '.[dev]')"
    return None


def _run(
    argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, (
        f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _unbuildable()
    if reason:
        pytest.skip(f"cannot build the wheel without network: {reason}")
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source") / "tweetfeed"

    def ignore(directory: str, names: list[str]) -> set[str]:
        left_out = set(CACHES(directory, names))
        if Path(directory) == ROOT:
            left_out |= LEFT_OUT & set(names)
        return left_out

    shutil.copytree(ROOT, source, ignore=ignore)
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    pip_wheel: list[str | Path] = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    _run([*pip_wheel, "--no-index", "--no-build-isolation", "--wheel-dir", wheelhouse, source])
    (built,) = wheelhouse.glob("tweetfeed-*.whl")
    return built


def test_the_wheel_holds_every_package_and_migration(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("pipeline", "workers", "models"):  # pyproject lists the packages by hand
        for path in (ROOT / package).rglob("*"):
            if path.suffix in {".py", ".html"} and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names
    migrations = [p for p in (ROOT / "alembic").rglob("*") if p.suffix in {".py", ".mako"}]
    assert migrations
    for path in migrations:
        assert f"tweetfeed_migrations/{path.relative_to(ROOT / 'alembic').as_posix()}" in names


PROBE = """
import json, sys, pipeline
from pipeline.store.migrate import alembic_config
scripts = alembic_config().get_main_option("script_location")
print(json.dumps({"pipeline": pipeline.__file__, "scripts": scripts, "path": sys.path}))
"""


def test_the_installed_wheel_migrates_a_database(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir])  # no system site-packages
    python = env_dir / "bin" / "python"
    install: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install"]
    _run([*install, "--quiet", "--no-deps", "--no-index", wheel])
    # The third-party dependencies come from this interpreter's site-packages, added after the
    # fresh venv's own by a plain path line, so its .pth files (the editable install's finder
    # among them) are not run.
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run([python, "-c", purelib]).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (site / "tweetfeed_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = elsewhere / "x.sqlite3"
    env = clean_env(TWEETFEED_DATABASE_URL=f"sqlite:///{database}")
    for variable in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "VIRTUAL_ENV"):
        env.pop(variable, None)

    probe = json.loads(_run([python, "-c", PROBE], cwd=elsewhere, env=env).stdout)
    assert Path(probe["pipeline"]).is_relative_to(site), probe
    scripts = Path(probe["scripts"])
    assert scripts.is_relative_to(site) and (scripts / "env.py").is_file(), probe
    checkout = [
        p for p in probe["path"] if p and p not in ours and Path(p).resolve().is_relative_to(ROOT)
    ]
    assert not checkout, probe

    result = _run([env_dir / "bin" / "tweetfeed", "migrate"], cwd=elsewhere, env=env)
    assert "newest schema" in result.stdout
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
        (version,) = conn.execute("select version_num from alembic_version").fetchone()
    assert {"tweets", "alembic_version"} <= tables
    assert version == ScriptDirectory(str(ROOT / "alembic")).get_current_head()
