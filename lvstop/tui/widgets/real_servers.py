"""The real servers of the selected service, keyed ``<service key>->10.0.5.91:8888``.

New% is the real server's share of the service's new connections over the last poll, Wt%
its share of the weight (for rr and other schedulers that ignore weights: an equal share of
the non-zero weights). A gap of more than 15 points is highlighted: "rr doesn't balance".
"""

from __future__ import annotations

from lvstop.tui.view import RS_COLUMNS
from lvstop.tui.widgets.line_table import LineTable


class RealServersTable(LineTable):
    def __init__(self, *, id: str | None = "real-servers") -> None:
        super().__init__(
            RS_COLUMNS, empty_text="select a service (Enter) to see its real servers", id=id
        )
        self.border_title = "Real servers"
