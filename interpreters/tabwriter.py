"""Align tab-separated cells the way kubectl's tab writer does.

That writer (liggitt/tabwriter with minimum width 6, padding 3, spaces and
RememberWidths) pads each tab-terminated cell to the widest cell of its column
block plus 3, flushes after every line without a tab, and never lets a column
become narrower than it was earlier in the same output.
"""

from __future__ import annotations

MIN_WIDTH = 6
PADDING = 3


def align(text: str) -> str:
    """`text` with its tab-separated cells aligned."""
    remembered: list[int] = []
    out: list[str] = []
    block: list[list[str]] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        cells = line.split("\t")
        block.append(cells)
        if len(cells) == 1 or index == len(lines) - 1:
            _format(block, 0, len(block), [], remembered, out)
            block = []
    return "\n".join(out)


def _format(
    lines: list[list[str]],
    start: int,
    end: int,
    widths: list[int],
    remembered: list[int],
    out: list[str],
) -> None:
    column = len(widths)
    this = start
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines[start:this], widths, out)
        start = this
        width = MIN_WIDTH
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + PADDING)
            this += 1
        remembered.extend(widths[len(remembered) :])
        if len(remembered) == column:
            remembered.append(width)
        width = max(width, remembered[column])
        remembered[column] = width
        _format(lines, start, this, [*widths, width], remembered, out)
        start = this
    _write(lines[start:end], widths, out)


def _write(lines: list[list[str]], widths: list[int], out: list[str]) -> None:
    for cells in lines:
        padded = [
            cell.ljust(widths[index]) if index < len(widths) else cell
            for index, cell in enumerate(cells)
        ]
        out.append("".join(padded))
