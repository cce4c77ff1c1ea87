"""LineTable: repaints only rows whose text changed and are in view; sorts numbers by value;
drops columns by priority instead of cutting words."""

from __future__ import annotations

from textual.app import App, ComposeResult

from lvstop.tui.rows import Column, Row
from lvstop.tui.widgets.line_table import LineTable

COLUMNS = (
    Column("name", "Name", 10),
    Column("n", "N", 6, numeric=True),
    Column("extra", "Extra", 30, priority=1),
)


def rows(n: int, bump: int | None = None) -> list[Row]:
    out = []
    for i in range(n):
        value = i * 10 + (1 if i == bump else 0)
        out.append(Row(f"k{i}", (f"row{i}", str(value), "x"), (f"row{i}", value, "x")))
    return out


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, id="t")


async def test_only_changed_visible_rows_are_repainted() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows(100))
        await pilot.pause()
        assert table.set_rows(rows(100)) == 0  # nothing changed: nothing repainted
        assert table.set_rows(rows(100, bump=3)) == 1  # one visible row changed
        assert table.set_rows(rows(100, bump=3)) == 0
        assert table.set_rows(rows(100, bump=80)) == 1  # row 3 back to normal; 80 not in view
        # sort values that change without changing the text: no repaint
        moved = [Row(r.key, r.cells, (r.values[0], r.values[1] + 0.1, "x")) for r in rows(100)]
        assert table.set_rows(moved) == 0


async def test_numbers_sort_by_value_and_cursor_follows_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(
            [
                Row("a", ("a", "9", ""), ("a", 9, "")),
                Row("b", ("b", "10", ""), ("b", 10, "")),
                Row("c", ("c", "100", ""), ("c", 100, "")),
            ]
        )
        table.move_cursor_to("a")
        table.sort_by("n", reverse=True)
        await pilot.pause()
        assert table.ordered_keys == ["c", "b", "a"]  # as text "9" would sort first
        assert table.cursor_key == "a"
        table.set_filter("b")
        assert table.ordered_keys == ["b"]


async def test_narrow_drops_low_priority_columns_instead_of_cutting() -> None:
    app = TableApp()
    async with app.run_test(size=(30, 8)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows(3))
        await pilot.pause()
        header = "".join(s.text for s in table.render_line(0))
        assert "Name" in header and "N" in header and "Extra" not in header
        assert len(header) == table.size.width


async def test_empty_text() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(LineTable)
        table.empty_text = "nothing here"
        table.set_rows([])
        await pilot.pause()
        assert "nothing here" in "".join(s.text for s in table.render_line(1))
