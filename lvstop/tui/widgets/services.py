"""The services table: one row per virtual service, keyed ``tcp:10.0.5.96:8888``."""

from __future__ import annotations

from lvstop.tui.view import EMPTY_SERVICES, SERVICE_COLUMNS
from lvstop.tui.widgets.line_table import LineTable


class ServicesTable(LineTable):
    def __init__(self, *, id: str | None = "services") -> None:
        super().__init__(SERVICE_COLUMNS, empty_text=EMPTY_SERVICES, id=id)
        self.border_title = "Services"
        self.tooltip = None
