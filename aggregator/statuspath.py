"""Status field paths as Kubernetes users write them (``status.conditions[*].lastTransitionTime``),
turned into the regular expressions deepdiff matches against its own paths (``root['conditions']``).
"""

from __future__ import annotations

import re

_SEGMENT = re.compile(
    r"""
    \.(?P<name>[A-Za-z0-9_-]+)              # .field
    | \[(?P<index>\d+|\*)\]                  # [0] or [*]
    | \[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]  # ['any.key'] or ["any.key"]
    """,
    re.VERBOSE,
)


class StatusPathError(ValueError):
    """A path that does not name a field inside ``.status``."""


def _segments(path: str) -> list[tuple[str, str]]:
    """(kind, value) pairs of a path that starts with a segment; kind is name, index or key."""
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise StatusPathError(f"cannot read {path[position:]!r}")
        if match["name"] is not None:
            found.append(("name", match["name"]))
        elif match["index"] is not None:
            found.append(("index", match["index"]))
        else:
            found.append(("name", match["key"]))
        position = match.end()
    return found


def _deepdiff_segments(path: str) -> list[tuple[str, str]]:
    """The segments of deepdiff's own syntax, ``root['conditions'][0]``."""
    segments = _segments(path[len("root") :])
    if any(kind == "index" and value == "*" for kind, value in segments):
        raise StatusPathError("deepdiff paths take no [*]")
    return segments


def ignore_pattern(path: str) -> str:
    """The deepdiff ``exclude_regex_paths`` pattern of a status field path.

    Accepted: ``status.conditions``, ``.status.conditions[0].lastTransitionTime``,
    ``{.status.conditions[*].lastTransitionTime}``, ``status['odd.key']``, and deepdiff's
    ``root['conditions']`` (relative to ``.status``). ``[*]`` matches every list index.
    """
    text = path.strip()
    try:
        if text.startswith("root"):
            segments = _deepdiff_segments(text)
        else:
            if text.startswith("{") and text.endswith("}"):
                text = text[1:-1]
            text = text.removeprefix("$")
            if not text.startswith("."):
                text = "." + text
            segments = _segments(text)
            if not segments or segments[0] != ("name", "status"):
                raise StatusPathError("it must start with status (the field inside .status)")
            segments = segments[1:]
    except StatusPathError as exc:
        raise StatusPathError(f"bad status field path {path!r}: {exc}") from None
    if not segments:
        raise StatusPathError(f"bad status field path {path!r}: it names no field inside .status")
    pattern = "root"
    for kind, value in segments:
        if kind == "index":
            pattern += r"\[\d+\]" if value == "*" else rf"\[{value}\]"
        else:
            pattern += re.escape(f"[{value!r}]")
    return f"^{pattern}$"
