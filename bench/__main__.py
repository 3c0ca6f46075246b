"""``python -m bench [--quick] [--only NAME ...]``: every benchmark, side by side.

Prints the machine and its load, then one table per path (ours, the reference, the ratio,
median and min–max over interleaved runs); writes ``bench/results/<name>.json``,
``bench/results/summary.json`` (one object per figure) and ``bench/results/summary.png``.
``--quick`` runs each at a tiny size, only to prove it still works end to end: its figures go
to ``var/bench/quick/`` and mean nothing. ``--only`` replaces its figures in an existing
summary. A benchmark module that does not exist yet is skipped with a note; any benchmark that
fails makes the exit status 1. Every ``bench_*`` database a run made is dropped at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

from bench.harness import RESULTS, WORK, Figure, drop_databases, load, machine

MODULES = {
    "ingest": "bench.ingest",
    "fanout": "bench.fanout",
    "fanout-vs-stream-framework": "bench.stream_framework",
    "fanout-cluster": "bench.fanout_cluster",
    "read": "bench.read",
    "delivery": "bench.delivery",
    "listener-rss": "bench.listener_rss",
}


def table(figure: Figure) -> str:
    """The figure as a small table: each side's median and min–max over its runs, the ratio."""
    title = f"{figure.name} ({figure.unit})"
    rows = [f"{title:<40}{'median':>14}{'min–max':>26}"]
    for side, values in figure.runs.items():
        if values:
            spread = f"{min(values):,.1f}–{max(values):,.1f}"
            rows.append(f"  {side:<38}{statistics.median(values):>14,.1f}{spread:>26}"
                        f"   n={len(values)}")  # fmt: skip
    if figure.ratio is not None:
        rows.append(f"  {'ratio to the reference':<38}{figure.ratio:>13,.2f}×")
    rows.append(f"  target {figure.target}: {'met' if figure.met else 'NOT met'}")
    rows.append(f"  {figure.notes}")
    return "\n".join(rows)


def merged(out: Path, figures: list[Figure]) -> list[Figure]:
    """The summary already in ``out`` with ``figures`` put in place of those of their names."""
    path = out / "summary.json"
    kept = json.loads(path.read_text()) if path.exists() else []
    fresh = {f.name for f in figures}
    return [Figure(**f) for f in kept if f["name"] not in fresh] + figures


def chart(figures: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if f.ratio is not None]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(shown) + 1.5))
    colours = ["tab:green" if f.met else "tab:red" for f in shown]
    ax.barh([f.name for f in shown], [f.ratio or 0 for f in shown], color=colours)
    for n, f in enumerate(shown):
        ax.text(f.ratio or 0, n, f" {f.ratio:,.2f}×", va="center")
    ax.set_xlabel("tweetfeed ÷ reference (same run); green: target met")
    ax.set_title(f"make bench: {machine()}", fontsize=8)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", nargs="*", choices=sorted(MODULES), default=[])
    parser.add_argument("--out", type=Path, help="where results go (default: bench/results/)")
    args = parser.parse_args()
    out = args.out or (WORK / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average {load()}", flush=True)
    figures: list[Figure] = []
    failed: list[str] = []
    try:
        for name, module in MODULES.items():
            if args.only and name not in args.only:
                continue
            began = time.perf_counter()
            try:
                found = importlib.import_module(module).run(args.quick)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                print(f"\n{name}: skipped, {module} does not exist yet", flush=True)
                continue
            except Exception:
                failed.append(name)
                print(f"\n{name}: FAILED\n{traceback.format_exc()}", flush=True)
                continue
            for figure in found:
                print(f"\n{table(figure)}\n  ({time.perf_counter() - began:.0f} s)", flush=True)
                (out / f"{figure.name}.json").write_text(
                    json.dumps(figure.as_json(), indent=2, ensure_ascii=False) + "\n"
                )
            figures += found
    finally:
        drop_databases()
    if figures:
        summary = merged(out, figures) if args.only else figures
        text = json.dumps([f.as_json() for f in summary], indent=2, ensure_ascii=False)
        (out / "summary.json").write_text(text + "\n")
        chart(summary, out / "summary.png")
    print(f"\nwrote {out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed or not figures else 0


if __name__ == "__main__":
    sys.exit(main())
