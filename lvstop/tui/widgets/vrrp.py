"""The VRRP panel: per VRID its master, whether that is this host, priority, VIPs, badges."""

from __future__ import annotations

from lvstop.model.vrrp import VrrpSnapshot
from lvstop.tui.view import VRRP_COLUMNS, vrrp_rows, vrrp_subtitle
from lvstop.tui.widgets.line_table import LineTable


class VrrpPanel(LineTable):
    def __init__(self, *, id: str | None = "vrrp") -> None:
        super().__init__(
            VRRP_COLUMNS, empty_text="no VRRP adverts seen yet", sort_column="vrid", id=id
        )
        self.border_title = "VRRP"

    def show(self, snapshot: VrrpSnapshot, now: float) -> None:
        self.set_rows(vrrp_rows(snapshot, now))
        # numbers only (no packet text), so no markup to escape
        self.border_subtitle = vrrp_subtitle(snapshot)
