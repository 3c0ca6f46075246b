"""HTML for the web face: Jinja2 templates a user can override, per-verb activity templates in
the manner of stream-django (``activity/<verb>.html``, ``activity/aggregated/<verb>.html``), and
the status page's SVG chart. No external assets: every page works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from markupsafe import Markup

from pipeline.feeds.aggregate import Group
from pipeline.feeds.enrich import EnrichedActivity


def environment(template_dir: str | None) -> Environment:
    """Templates from ``template_dir`` first (TWEETFEED_TEMPLATE_DIR), then the built-in ones."""
    loaders: list[Any] = []
    if template_dir:
        loaders.append(FileSystemLoader(Path(template_dir)))
    loaders.append(PackageLoader("pipeline.web", "templates"))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape())
    env.globals["render_activity"] = lambda item, prefix=None: render_activity(env, item, prefix)
    env.globals["chart"] = chart
    env.globals["sparkline"] = sparkline
    return env


def render_activity(
    env: Environment, item: EnrichedActivity | Group, prefix: str | None = None
) -> Markup:
    """``activity/<verb>.html`` for an activity, ``activity/aggregated/<verb>.html`` for a group,
    each falling back to ``default.html`` beside it. With a ``prefix`` (stream-django's third
    argument, ``render_activity(item, "homepage")``), ``<prefix>_<verb>.html`` is tried first,
    then ``<prefix>_default.html``, then the templates without it."""
    folder = "activity/aggregated" if isinstance(item, Group) else "activity"
    names = [f"{folder}/{item.verb}.html", f"{folder}/default.html"]
    if prefix:
        names = [f"{folder}/{prefix}_{item.verb}.html", f"{folder}/{prefix}_default.html", *names]
    template = env.select_template(names)
    name = "group" if isinstance(item, Group) else "activity"
    context = {name: item, "render_activity": env.globals["render_activity"], "prefix": prefix}
    return Markup(template.render(context))


def chart(values: list[int], width: int = 720, height: int = 140) -> Markup:
    """Tweets per minute as an inline SVG polyline, oldest minute on the left."""
    peak = max(values, default=0)
    top = max(peak, 1)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 20 - (v / top) * (height - 30):.1f}"
        for i, v in enumerate(values)
    )
    total = sum(values)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="tweets per minute over the last hour, {total} in all">'
        f'<line x1="0" y1="{height - 20}" x2="{width}" y2="{height - 20}" class="axis"/>'
        f'<polyline points="{points}" class="line"/>'
        f'<text x="0" y="{height - 4}">60 min ago</text>'
        f'<text x="{width}" y="{height - 4}" text-anchor="end">now</text>'
        f'<text x="4" y="12">peak {peak}/min</text></svg>'
    )


def sparkline(values: list[int], label: str, width: int = 240, height: int = 36) -> Markup:
    """One term's tweets per minute as a small inline SVG, on its own scale, peak marked."""
    peak = max(values, default=0)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 3 - (v / max(peak, 1)) * (height - 6):.1f}"
        for i, v in enumerate(values)
    )
    title = f"{label}: {sum(values)} tweets in the last hour, peak {peak}/min"
    return Markup(
        '<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{t}"><title>{t}</title><polyline points="{p}" class="line"/></svg>'
    ).format(w=width, h=height, t=title, p=points)
