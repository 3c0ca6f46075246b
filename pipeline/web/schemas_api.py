"""``/api/schemas``: the JSON Schema of each public task's payload (``pipeline.bus.schemas``),
for apps in other languages to check what they send."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from pipeline.bus import schemas

router = APIRouter(tags=["tasks"])


@router.get("/api/schemas")
def task_names() -> list[str]:
    """The public tasks, each with a payload schema at ``/api/schemas/{task}``."""
    return schemas.names()


@router.get("/api/schemas/{task}")
def task_schema(task: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of task ``task``'s keyword arguments."""
    found = schemas.schema(task)
    if found is None:
        raise HTTPException(404, f"no public task {task[:100]!r}; see /api/schemas")
    return found
