"""``python -m bench [--quick] [--only NAME ...]``: every benchmark, side by side.

Prints the machine and its load, then one table per path (ours, the reference, the ratio,
median and min–max over interleaved runs); writes ``bench/results/<name>.json``,
``bench/results/summary.json`` (one object per figure) and ``bench/results/summary.png``.
``--quick`` runs each at a tiny size, only to prove it still works end to end: its figures go
to ``var/bench/quick/`` and mean nothing. Any benchmark that fails makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.harness import RESULTS, WORK, Figure, load, machine

MODULES = {
    "ingest": "bench.ingest",
    "fanout": "bench.fanout",
    "fanout-vs-stream-framework": "bench.stream_framework",
    "read": "bench.read",
    "delivery": "bench.delivery",
    "listener-rss": "bench.listener_rss",
}


def table(figure: Figure) -> str:
    ratio = "" if figure.ratio is None else f" = {figure.ratio:,.2f}× the reference"
    reference = "" if figure.reference is None else f" against {figure.reference:,}"
    return "\n".join([
        f"{figure.name}: {figure.value:,} {figure.unit}{reference}{ratio}",
        f"  target {figure.target}: {'met' if figure.met else 'NOT met'}",
        f"  {figure.notes}",
    ])  # fmt: skip


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
    args = parser.parse_args()
    out = WORK / "quick" if args.quick else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average {load()}")
    figures: list[Figure] = []
    failed: list[str] = []
    for name, module in MODULES.items():
        if args.only and name not in args.only:
            continue
        began = time.perf_counter()
        try:
            found = importlib.import_module(module).run(args.quick)
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
    summary = [f.as_json() for f in figures]
    if not args.only:
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        chart(figures, out / "summary.png")
    print(f"\nwrote {out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
