"""`tweetfeed stats | head`: a reader that leaves early ends the command quietly, with no
traceback and the status a Unix tool has then (128 + SIGPIPE); `status` prints through rich,
which handles it itself and exits 1."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import Pipeline
from tests.helpers import BIN, ROOT

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.mark.parametrize(
    ("command", "status"),
    [(["stats"], 141), (["synth", "--count", "20000"], 141), (["status"], 1)],
)
def test_a_reader_that_leaves_early_gets_no_traceback(
    pipeline: Pipeline, command: list[str], status: int
) -> None:
    process = subprocess.Popen(
        [str(BIN / "tweetfeed"), *command],
        env=pipeline.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `head` does once it has its lines; here before the first
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == status, error
    assert "Traceback" not in error and "BrokenPipeError" not in error, error
