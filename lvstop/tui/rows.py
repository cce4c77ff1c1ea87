"""Plain row/column descriptions shared by the view code and ``LineTable`` (no Textual here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class RowSource(Protocol):
    """A table's rows, made on demand: a table asks for the rows of the lines it shows, and
    for one value (to sort) or the search text (to filter) of the others, so its cost grows
    with what is on the screen, not with the number of rows."""

    def keys(self) -> Sequence[str]:
        """Every row's key, in the source's own order (the order when not sorted)."""
        ...

    def row(self, key: str) -> Row:
        """The row of ``key`` (one of ``keys()``)."""
        ...

    def sort_value(self, key: str, column: int) -> Any:
        """What column ``column`` of the row sorts by (``Row.values``)."""
        ...

    def search_text(self, key: str) -> str:
        """What a filter matches (``Row.search_text``, else its cells)."""
        ...


class RowList:
    """A RowSource over rows made up front (tables of a few hundred rows)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._rows = {row.key: row for row in rows}

    def keys(self) -> Sequence[str]:
        return list(self._rows)

    def row(self, key: str) -> Row:
        return self._rows[key]

    def sort_value(self, key: str, column: int) -> Any:
        row = self._rows[key]
        source = row.values if row.values else row.cells
        return source[column] if column < len(source) else None

    def search_text(self, key: str) -> str:
        row = self._rows[key]
        return row.search_text or " ".join(row.cells)
