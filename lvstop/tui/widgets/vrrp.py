"""The VRRP panel: per VRID its master, whether that is this host, priority, VIPs, badges."""

from __future__ import annotations

from lvstop.tui.view import VRRP_COLUMNS
from lvstop.tui.widgets.line_table import LineTable


class VrrpPanel(LineTable):

    def __init__(self, *, id: str | None = "vrrp") -> None:
        super().__init__(VRRP_COLUMNS, empty_text="no VRRP adverts seen yet", sort_column="vrid",
                         id=id)
        self.border_title = "VRRP"
