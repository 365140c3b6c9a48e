"""Option types shared by the built-in policies (third-party policies may use them too)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

PRIORITIES = ("low", "normal", "high", "urgent")


def priority_name(value: str | None) -> str | None:
    """One of low, normal, high, urgent, in any case; empty means none."""
    value = (value or "").strip().lower()
    if value and value not in PRIORITIES:
        raise ValueError("expected one of low, normal, high, urgent (or empty)")
    return value or None


def optional_name(value: str | None) -> str | None:
    """A name whose blank value means none (e.g. an optional absolute tier)."""
    return (value or "").strip() or None


PriorityName = Annotated[str | None, AfterValidator(priority_name)]
OptionalName = Annotated[str | None, AfterValidator(optional_name)]
