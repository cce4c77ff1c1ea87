"""The event log: failovers, preemptions, split brain, real servers coming and going, weight
and timeout changes, write results. Newest first, scrollable, kept for the whole session."""

from __future__ import annotations

from lvstop.track.events import LogEvent
from lvstop.tui.view import EVENT_COLUMNS, event_rows
from lvstop.tui.widgets.line_table import LineTable


class EventLog(LineTable):
    def __init__(self, *, id: str | None = "events") -> None:
        super().__init__(
            EVENT_COLUMNS, empty_text="no events yet", sort_column="time", sort_reverse=True, id=id
        )
        self.border_title = "Events"
        self.events: list[LogEvent] = []
        self._keys: set[str] = set()

    def add(self, events: list[LogEvent]) -> int:
        """Append events (duplicates by key are ignored); returns how many were new."""
        new = [e for e in events if e.key not in self._keys]
        if not new:
            return 0
        # Like a log tail: a cursor on the top (newest) row stays on the top row, so new
        # events come into view instead of pushing the view down to the old cursor row.
        follow = self.cursor == 0
        self.events.extend(new)
        self._keys.update(e.key for e in new)
        self.set_rows(event_rows(self.events))
        order = self.ordered_keys
        if follow and order and self.cursor != 0:
            self.move_cursor_to(order[0])
        return len(new)
