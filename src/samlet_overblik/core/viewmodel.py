"""Typed answers with JSON keys of their own: a dataclass field names its JSON key once (``json_key``), and
``to_json`` is the one serialiser for the CLI's ``--json`` and the JSON API.

Attributes are English; the keys a caseworker's or compliance officer's tools read are Danish. A field without a
key stays on the server (a record's source key, say); a field marked ``flatten`` puts its own keys at its parent's
level (the records part of a citizen view).
"""

from __future__ import annotations

from dataclasses import field, fields, is_dataclass
from datetime import date, datetime
from typing import Any


def json_key(key: str, **kwargs: Any) -> Any:
    return field(metadata={"json": key}, **kwargs)


def flatten(**kwargs: Any) -> Any:
    return field(metadata={"flatten": True}, **kwargs)


def to_json(value: Any) -> Any:
    """A view model as the JSON API shows it: Danish keys, ISO dates."""
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            if "json" not in f.metadata and not f.metadata.get("flatten"):
                continue  # internal (e.g. a record's source key): never leaves the server
            converted = to_json(getattr(value, f.name))
            if f.metadata.get("flatten"):
                out.update(converted)
            else:
                out[f.metadata["json"]] = converted
        return out
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value
