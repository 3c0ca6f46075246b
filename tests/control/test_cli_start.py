"""``tweetfeed`` builds every command's parser at start; none of them may load the database
stack, which costs more CPU than a short command's whole work."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_command_line_loads_neither_sqlalchemy_nor_cryptography() -> None:
    probe = (
        "import sys; from pipeline.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('sqlalchemy', 'cryptography', 'models') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
