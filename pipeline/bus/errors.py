"""What a task payload that breaks its documented shape raises."""

from __future__ import annotations


class PayloadError(ValueError):
    """A task payload that does not follow its documented shape; the message names the field."""
