"""A table on Textual's Line API that repaints only the rows whose text changed.

Why not ``DataTable``: its ``update_cell`` repaints the whole visible table (about 27 KB
written per refresh at 200×60 whether one cell or all changed, measured for issue 6), and
``clear()`` + re-add costs over a second at 10,000 rows. Here every row has a stable key;
``set_rows`` diffs the new rows against the old ones by key and marks dirty only the screen
lines (inside the viewport) whose row or text changed, through ``Widget.refresh(Region)``.
Rows outside the viewport are never rendered; rendered lines are cached per key.

Columns that do not fit the width are dropped by priority instead of cutting text mid-word.
Numeric columns sort by their value (``Row.values``), not their text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lvstop.safetext import escape_controls
from lvstop.tui.rows import MARKS, Column, Row, RowList, RowSource

__all__ = ["Column", "LineTable", "Row", "RowList", "RowSource"]


def _sort_value(value: Any) -> tuple[int, Any]:
    # None sorts last in ascending order; mixed types compare as text.
    if value is None:
        return (2, 0)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


class LineTable(ScrollView, can_focus=True):
    """A keyed, sortable, filterable table that repaints only changed lines."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--cursor",
        "line-table--empty",
        "line-table--stale",
        *(f"line-table--{m}" for m in MARKS),
    }

    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    LineTable > .line-table--header { text-style: bold; color: $text-accent; }
    LineTable > .line-table--cursor { background: $panel-lighten-1; }
    LineTable:focus > .line-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    LineTable > .line-table--empty { color: $text-muted; text-style: italic; }
    LineTable > .line-table--stale { text-style: dim italic; }
    LineTable > .line-table--warn { color: $text-warning; text-style: bold; }
    LineTable > .line-table--error { color: $text-error; text-style: bold; }
    LineTable > .line-table--ok { color: $text-success; }
    LineTable > .line-table--dim { color: $text-muted; }
    LineTable > .line-table--accent { color: $text-accent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
        Binding(
            "s",
            "cycle_sort",
            "Sort",
            id="table.sort",
            tooltip="Sort by the next column (numbers by value)",
        ),
        Binding(
            "i",
            "invert_sort",
            "Invert",
            show=False,
            id="table.invert",
            tooltip="Reverse the sort order",
        ),
    ]

    cursor: reactive[int] = reactive(0, repaint=False, init=False)
    stale: reactive[bool] = reactive(False, repaint=False, init=False)

    class Highlighted(Message):
        """The cursor moved to the row with ``key`` (None when the table is empty)."""

        def __init__(self, table: LineTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> LineTable:
            return self.table

    class Selected(Highlighted):
        """Enter was pressed on the row with ``key``."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty_text: str = "nothing to show",
        sort_column: str | None = None,
        sort_reverse: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.empty_text = empty_text
        self.sort_column = sort_column
        self.sort_reverse = sort_reverse
        self.filter_text = ""
        self._source: RowSource = RowList(())
        self._keys: set[str] = set()
        #: the rows made (for the lines shown), by key: what the next source is diffed against
        self._shown: dict[str, Row] = {}
        self._order: list[str] = []
        self._cursor_key: str | None = None
        self._cache: dict[str, tuple[int, bool, bool, Strip]] = {}
        self._header_cache: tuple[int, Strip] | None = None
        self._visible: tuple[int, ...] = tuple(range(len(self.columns)))
        self._widths: dict[int, int] = {i: c.width for i, c in enumerate(self.columns)}
        self.lines_refreshed = 0  # how many row lines set_rows marked dirty (benchmarks, tests)
        self._base_style: Style | None = None  # the widget's style during one repaint

    # ---- data -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def ordered_keys(self) -> list[str]:
        """Keys in display order (after filter and sort)."""
        return list(self._order)

    @property
    def cursor_key(self) -> str | None:
        return self._cursor_key

    def get_row(self, key: str) -> Row | None:
        if key not in self._keys:
            return None
        return self._row(key)

    def keys_in_view(self) -> list[str]:
        """The keys of the rows on the screen now, top to bottom."""
        top = round(self.scroll_offset.y)
        return self._order[top : top + max(0, self.size.height - 1)]

    def set_rows(self, rows: Iterable[Row]) -> int:
        """Replace the table's rows, repainting only lines whose row or text changed.

        Returns the number of lines marked for repaint.
        """
        return self.set_source(RowList(rows))

    def set_source(self, source: RowSource) -> int:
        """Show ``source``'s rows: only the rows of the lines in view are made, and those
        lines repainted whose row or text changed. Returns the number of lines marked for
        repaint."""
        old_shown = self._shown
        self._source = source
        self._keys = set(source.keys())
        self._shown = {}
        return self._reorder(old_shown)

    def _row(self, key: str) -> Row:
        row = self._shown.get(key)
        if row is None:
            row = self._shown[key] = self._source.row(key)
        return row

    def _compute_order(self) -> list[str]:
        source = self._source
        keys: Sequence[str] = source.keys()
        if self.filter_text:
            needle = self.filter_text.lower()
            keys = [k for k in keys if needle in source.search_text(k).lower()]
        if self.sort_column is None:
            return list(keys)
        index = next((i for i, c in enumerate(self.columns) if c.key == self.sort_column), None)
        if index is None:
            return list(keys)
        return sorted(
            keys,
            key=lambda k: (_sort_value(source.sort_value(k, index)), k),
            reverse=self.sort_reverse,
        )

    def _reorder(self, old_shown: dict[str, Row] | None = None) -> int:
        """Order the rows again; with ``old_shown`` (the rows last made, before a new
        source), repaint the lines in view whose row is not the one made before."""
        old_order = self._order
        self._order = self._compute_order()
        height = max(0, self.size.height - 1)
        if len(old_order) != len(self._order):
            self.virtual_size = Size(self.size.width, len(self._order) + 1)
        # Keep the cursor on the same row (by key) across re-sorts.
        old_cursor = self.cursor
        if self._cursor_key is not None and self._cursor_key in self._keys:
            try:
                self.set_reactive(LineTable.cursor, self._order.index(self._cursor_key))
            except ValueError:
                self.set_reactive(LineTable.cursor, min(self.cursor, len(self._order) - 1))
        else:
            self.set_reactive(LineTable.cursor, min(self.cursor, max(0, len(self._order) - 1)))
        new_cursor_key = self._order[self.cursor] if self._order else None
        self._scroll_cursor_visible()
        top = round(self.scroll_offset.y)
        changed: set[str] = set()
        if old_shown is not None:
            # Only what is displayed decides a repaint: sort values (raw rates, ages) may
            # move while the text stays the same. Rows out of view are made when they are
            # scrolled into it; their cached lines cannot be trusted any more.
            cache = self._cache
            self._cache = {}
            for key in self._order[top : top + height]:
                row, old = self._row(key), old_shown.get(key)
                if (
                    old is None
                    or old.cells != row.cells
                    or old.marks != row.marks
                    or old.row_mark != row.row_mark
                ):
                    changed.add(key)
                elif key in cache:
                    self._cache[key] = cache[key]
        count = 0
        if not old_order or not self._order:
            self.refresh()
            count = height
        else:
            for line in range(height):
                index = top + line
                old_key = old_order[index] if index < len(old_order) else None
                new_key = self._order[index] if index < len(self._order) else None
                if (
                    old_key != new_key
                    or (new_key is not None and new_key in changed)
                    or (index in (old_cursor, self.cursor) and old_cursor != self.cursor)
                ):
                    self._refresh_screen_line(line + 1)
                    count += 1
        self.lines_refreshed = count
        if new_cursor_key != self._cursor_key:
            self._cursor_key = new_cursor_key
            self.post_message(self.Highlighted(self, new_cursor_key))
        return count

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._reorder()
        self.refresh()

    def sort_by(self, column: str | None, reverse: bool | None = None) -> None:
        self.sort_column = column
        if reverse is not None:
            self.sort_reverse = reverse
        self._header_cache = None
        self._reorder()
        self.refresh()

    # ---- rendering ------------------------------------------------------------------------

    def _refresh_screen_line(self, line: int) -> None:
        self.refresh(Region(0, line, self.size.width, 1))

    def watch_stale(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_resize(self) -> None:
        self._cache.clear()
        self._header_cache = None
        self._visible = self._fit_columns(self.size.width)
        self._widths = {i: c.width for i, c in enumerate(self.columns)}
        used = sum(self.columns[i].width for i in self._visible) + len(self._visible) - 1
        for i in self._visible:
            if self.columns[i].flex:
                self._widths[i] = self.columns[i].width + max(0, self.size.width - used)
                break
        self.virtual_size = Size(self.size.width, len(self._order) + 1)
        self._scroll_cursor_visible()

    def _fit_columns(self, width: int) -> tuple[int, ...]:
        chosen: set[int] = set()
        used = 0
        for index, column in sorted(enumerate(self.columns), key=lambda ic: ic[1].priority):
            need = column.width + (1 if chosen else 0)
            if column.priority > 0 and used + need > width:
                continue
            chosen.add(index)
            used += need
        return tuple(sorted(chosen))

    def _line(self, texts: Sequence[tuple[str, Style]], base: Style, width: int) -> Strip:
        # Cells are padded to their column; neighbours of the same style share one segment
        # (fewer segments: cheaper strips for the compositor and fewer escape codes).
        segments: list[Segment] = []
        run: list[str] = []
        run_style = base
        used = 0
        for position, (index, (text, style)) in enumerate(zip(self._visible, texts, strict=True)):
            column = self.columns[index]
            col_width = self._widths[index]
            # cells hold names from packets, configs and the kernel: controls shown, not sent
            text = escape_controls(text, keep_newlines=False)
            if len(text) > col_width:
                text = text[: max(0, col_width - 1)] + "…"
            text = text.rjust(col_width) if column.numeric else text.ljust(col_width)
            cell_style = base + style if style else base
            if position:
                run.append(" ")
                used += 1
            used += col_width
            if cell_style != run_style and run:
                # A right-aligned cell's padding stays with the run before it when that looks
                # the same (same background): a run never starts with spaces, which SVG
                # renderers such as rsvg drop (screenshots with shifted columns).
                body = text.lstrip(" ")
                if (
                    len(body) < len(text)
                    and cell_style.bgcolor == run_style.bgcolor
                    and not (run_style.underline or run_style.strike or run_style.reverse)
                ):
                    run.append(text[: len(text) - len(body)])
                    text = body
                if not text:
                    continue
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = cell_style
            run.append(text)
        if run:
            segments.append(Segment("".join(run), run_style))
        if used < width:
            segments.append(Segment(" " * (width - used), base))
            used = width
        strip = Strip(segments, used)
        return strip if used == width else strip.crop(0, width)

    def _header_strip(self, width: int) -> Strip:
        if self._header_cache is not None and self._header_cache[0] == width:
            return self._header_cache[1]
        base = self.rich_style + self.get_component_rich_style("line-table--header")
        labels = []
        for index in self._visible:
            column = self.columns[index]
            label = column.label
            if column.key == self.sort_column:
                label = label + ("▲" if not self.sort_reverse else "▼")
            labels.append((label, Style()))
        strip = self._line(labels, base, width)
        self._header_cache = (width, strip)
        return strip

    def _row_strip(self, row: Row, selected: bool, width: int) -> Strip:
        cached = self._cache.get(row.key)
        if cached is not None and cached[:3] == (width, selected, self.stale):
            return cached[3]
        base = self._base_style or self.rich_style
        if row.row_mark and not self.stale:
            base = base + self.get_component_rich_style(f"line-table--{row.row_mark}")
        if selected:
            base = base + self.get_component_rich_style("line-table--cursor")
        if self.stale:  # old numbers must not look live, not even under the cursor
            base = base + self.get_component_rich_style("line-table--stale", partial=True)
        texts = []
        for index in self._visible:
            text = row.cells[index] if index < len(row.cells) else ""
            mark = row.marks[index] if index < len(row.marks) else ""
            style = (
                self.get_component_rich_style(f"line-table--{mark}", partial=True)
                if mark and not self.stale
                else Style()
            )
            texts.append((text, style))
        strip = self._line(texts, base, width)
        self._cache[row.key] = (width, selected, self.stale, strip)
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style walks its ancestors each time it is asked for: once per
        # repaint, not once per line.
        self._base_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base_style = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header_strip(width)
        index = round(self.scroll_offset.y) + y - 1
        if not self._order:
            if y == 1:
                text = (
                    self.empty_text
                    if not self.filter_text
                    else (f"no row matches “{self.filter_text}”")
                )
                style = self.rich_style + self.get_component_rich_style("line-table--empty")
                return Strip(
                    [Segment(" " + escape_controls(text, keep_newlines=False), style)]
                ).adjust_cell_length(width, style)
            return Strip.blank(width, self.rich_style)
        if index >= len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[index]
        return self._row_strip(self._row(key), index == self.cursor, width)

    # ---- cursor ---------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        top = round(self.scroll_offset.y)
        for index in (old, new):
            self._refresh_screen_line(index - top + 1)
        key = self._order[new] if 0 <= new < len(self._order) else None
        self._scroll_cursor_visible()
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.Highlighted(self, key))

    def _scroll_cursor_visible(self) -> None:
        rows_in_view = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_in_view:
            self.scroll_to(y=self.cursor - rows_in_view + 1, animate=False, immediate=True)

    def move_cursor_to(self, key: str) -> bool:
        if key in self._keys and key in self._order:
            self.cursor = self._order.index(key)
            return True
        return False

    def _move(self, delta: int) -> None:
        if self._order:
            self.cursor = max(0, min(len(self._order) - 1, self.cursor + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self._move(max(1, self.size.height - 2))

    def action_first(self) -> None:
        self._move(-len(self._order))

    def action_last(self) -> None:
        self._move(len(self._order))

    def action_select(self) -> None:
        if self._order:
            self.post_message(self.Selected(self, self._order[self.cursor]))

    def action_cycle_sort(self) -> None:
        keys = [self.columns[i].key for i in self._visible]
        if self.sort_column not in keys:
            self.sort_by(keys[0] if keys else None)
            return
        position = keys.index(self.sort_column)
        nxt = keys[(position + 1) % len(keys)]
        numeric = self.columns[[c.key for c in self.columns].index(nxt)].numeric
        # Numbers read best largest first; names alphabetically.
        self.sort_by(nxt, reverse=numeric)
        self.notify(f"sorted by {nxt}", timeout=1.5)

    def action_invert_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def on_click(self, event: events.Click) -> None:
        y = event.y
        if y >= 1:
            index = round(self.scroll_offset.y) + y - 1
            if 0 <= index < len(self._order):
                self.cursor = index
