"""Plain row/column descriptions shared by the view code and ``LineTable`` (no Textual here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: style names a cell or a row may carry (``line-table--<mark>`` component classes)
MARKS = ("warn", "error", "ok", "dim", "accent")


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``priority`` 0 is always shown; higher numbers are dropped first.

    A ``flex`` column takes the width left over by the others (``width`` is its minimum).
    """

    key: str
    label: str
    width: int
    numeric: bool = False
    priority: int = 0
    flex: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One row: displayed ``cells``, sort ``values`` (same length), per-cell ``marks``.

    A mark names a style of the table (see ``MARKS``) or is empty; ``row_mark`` styles the
    whole row. Equality of two rows is what decides a repaint.
    """

    key: str
    cells: tuple[str, ...]
    values: tuple[Any, ...] = ()
    marks: tuple[str, ...] = ()
    row_mark: str = ""
    search_text: str = field(default="", compare=False)
