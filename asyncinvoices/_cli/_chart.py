"""A horizontal bar chart drawn with Unicode block characters: text in, text out.

Each bar is drawn in eighths of a character cell (``▏▎▍▌▋▊▉█``), so small differences stay
visible in a narrow terminal. Pure: no terminal detection, no colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

__all__ = ["bar", "bar_chart"]

_EIGHTHS: Final = " ▏▎▍▌▋▊▉"
_FULL: Final = "█"


def bar(value: Decimal, maximum: Decimal, cells: int) -> str:
    """Return a bar ``cells`` wide at ``maximum``, proportional to ``value``, in eighths.

    A positive value too small to see still gets the thinnest bar, so "some" never looks
    like "none".

    Example:
        >>> bar(Decimal(1), Decimal(2), 4)
        '██'
    """
    if maximum <= 0 or value <= 0 or cells <= 0:
        return ""
    eighths = int(value * cells * 8 / maximum)
    eighths = max(1, min(eighths, cells * 8))
    full, part = divmod(eighths, 8)
    return _FULL * full + (_EIGHTHS[part] if part else "")


def bar_chart(
    rows: Sequence[tuple[str, Decimal]], *, width: int = 80, values: bool = True
) -> list[str]:
    """Return one line per row: label, bar and (optionally) value, fitted into ``width``.

    Args:
        rows: ``(label, value)`` pairs in display order; a label may hold several columns
            already aligned. Values of zero or less draw no bar.
        width: The columns available; bars get what labels and values leave, at least one.
        values: Whether to write each value after its bar.

    Example:
        >>> for line in bar_chart([("2026-01", Decimal(10)), ("2026-02", Decimal(5))], width=30):
        ...     print(line)
        2026-01  █████████████████  10
        2026-02  ████████▌           5
    """
    if not rows:
        return []
    texts = [f"{value:,f}" if values else "" for _, value in rows]
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(text) for text in texts)
    cells = max(1, width - label_width - 2 - (value_width + 2 if values else 0))
    maximum = max(value for _, value in rows)
    lines = []
    for (label, value), text in zip(rows, texts, strict=True):
        line = f"{label.ljust(label_width)}  {bar(value, maximum, cells).ljust(cells)}"
        lines.append(f"{line}  {text.rjust(value_width)}" if values else line.rstrip())
    return lines
