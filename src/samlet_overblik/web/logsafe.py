"""Logging that cannot carry a CPR number: a filter that masks CPR numbers in any spelling (``cpr.redact_cpr``)
in every record's message, traceback and stack before a handler writes it.

The web app puts it on its own logger (so even tests' log capture sees masked text) and, when serving, on the
handlers of the root logger, which also receive uvicorn's and every library's records.
"""

from __future__ import annotations

import logging

from samlet_overblik.core.cpr import redact_cpr

_FORMATTER = logging.Formatter()


class RedactCpr(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep only the format
            message = str(record.msg)
        record.msg, record.args = redact_cpr(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_cpr(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_cpr(record.stack_info)
        return True


def install(target: logging.Logger | logging.Handler) -> None:
    """Add the filter once (idempotent: apps are created many times in one test process)."""
    if not any(isinstance(f, RedactCpr) for f in target.filters):
        target.addFilter(RedactCpr())


def install_everywhere() -> None:
    """On every handler of the root logger (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        install(handler)
