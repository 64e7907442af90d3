"""Reading what Redis answers: a client may hand back bytes or str (`decode_responses`), and
the stores keep only text, so every reply is turned into str in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def text_map(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash as Redis answers HGETALL, with text keys and values."""
    return {text(k): text(v) for k, v in raw.items()}
