"""Helpers for building agent output schemas at run time (narrowed per call for constrained decoding)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal


def one_of(values: Sequence[Any]) -> Any:
    """A `Literal` of exactly these values, built at run time: a JSON-schema enum the decoder must respect."""
    return Literal.__getitem__(tuple(values))
