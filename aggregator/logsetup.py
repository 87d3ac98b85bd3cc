"""Logging for the command line: plain text, or one JSON object per line."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("text", "json")


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level``; ``json`` writes time, level, logger, message and any extra
    fields of a record (and ``exc_info`` for an exception) as one JSON object per line."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                timestamp="time",
                rename_fields={"levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
