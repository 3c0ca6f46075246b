"""Run the fake X API as its own process: ``python -m pipeline.fakes.xapi --port 8787``."""

from pipeline.fakes.xapi.cli import main

raise SystemExit(main())
