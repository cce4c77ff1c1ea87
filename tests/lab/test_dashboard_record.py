"""Record, from the real lab, the data the dashboard's snapshot tests replay.

Runs inside the lab VM. Reads d1's IPVS table with lvstop's netlink reader and watches VRRP
on d1 with lvstop's live capture + tracker, through these states: steady client load, rs1
drained, d2's keepalived stopped (VRID 52 fails over to d1), and d1's adverts cut from d2
(split brain of VRID 51). Each state is checked against the lab (ipvsadm, the tracker's
events) and saved as JSON lines under ``.lab/ui-record/``; the committed recordings in
``tests/data/ui/`` are a copy of one such run (``cp .lab/ui-record/* tests/data/ui/``, then
``scripts/screenshots.py`` and ``pytest tests/ui/test_snapshots.py --snapshot-update``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lvstop.model.ipvs import IpvsSnapshot

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
VIP1, VIP2 = "10.0.5.96", "10.0.5.97"


class Recorder:
    """d1's IPVS reader and VRRP capture; sockets are created inside d1's netns."""

    def __init__(self, lab: LabHandle) -> None:
        from lvstop.sources.host import HostReader
        from lvstop.sources.ipvs import IpvsReader
        from lvstop.sources.vrrp_capture import VrrpCapture
        from lvstop.track.vrrp import VrrpTracker

        self.lab = lab
        self.tracker = VrrpTracker(per_interface=True)
        with lab.netns("d1"):
            self.reader = IpvsReader()
            self.reader.read()  # opens the netlink socket here, in d1
            self.capture = VrrpCapture(["eth0"], self._on_advert)
            self.capture.open()
        self.tracker.set_local_addresses(lab.addresses("d1", None), time.time())
        self.host = HostReader()
        self.host.read()

    def _on_advert(self, advert: Any) -> None:
        self.tracker.feed(advert)

    def pump(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            # d1's addresses before every drain (every 50 ms), so the tracker knows the VIP
            # keepalived adds 0.7 ms after its first advert as master well within its grace
            # (checked once a second, the tracker heard of it too late: a false host_mismatch).
            self.tracker.set_local_addresses(self.lab.addresses("d1", None), time.time())
            self.capture.drain()
            self.tracker.tick(time.time())
            time.sleep(0.05)

    def frames(
        self, count: int, every: float = 1.0
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ipvs, vrrp = [], []
        for _ in range(count):
            self.pump(every)
            ipvs.append(self.reader.read().to_dict())
            vrrp.append(
                self.tracker.snapshot(
                    time.time(), capture=self.capture.stats(), source="live: eth0"
                ).to_dict()
            )
        return ipvs, vrrp

    def close(self) -> None:
        self.capture.close()
        self.reader.close()


RECORD = ROOT / ".lab" / "ui-record"


def save(name: str, docs: list[dict[str, Any]]) -> None:
    RECORD.mkdir(parents=True, exist_ok=True)
    (RECORD / f"{name}.jsonl").write_text(
        "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs), encoding="utf-8"
    )


def kinds(vrrp_docs: list[dict[str, Any]], vrid: int) -> list[str]:
    return [e["kind"] for e in vrrp_docs[-1]["events"] if e["vrid"] == vrid]


@pytest.mark.long
def test_record_dashboard_states(lab: LabHandle) -> None:
    rec = Recorder(lab)
    try:
        lab.fault("load-start", rate=20.0, duration=120.0)
        rec.pump(4.0)
        ipvs, vrrp = rec.frames(6)
        save("steady.ipvs", ipvs)
        save("steady.vrrp", vrrp)
        save("host", [rec.host.read().to_dict()])
        with lab.netns("d1"):
            from lvstop.sources.conns import read_table_text

            conn_text = read_table_text()
        (RECORD / "ip_vs_conn.txt").write_text(conn_text, encoding="ascii")
        last = IpvsSnapshot.from_dict(ipvs[-1])
        assert {s.address for s in last.services} == {VIP1, VIP2}
        assert all(len(s.real_servers) == 2 for s in last.services)
        assert (
            ipvs[-1]["services"][0]["stats"]["conns"] > ipvs[0]["services"][0]["stats"]["conns"]
        ), "client load should reach d1's IPVS"
        masters = {v["vrid"]: v["master"] for v in vrrp[-1]["vrids"]}
        assert masters == {51: "10.0.5.90", 52: "10.0.5.93"}

        # rs1 drained on d1 (by ipvsadm: the oracle tool), traffic keeps flowing to rs2.
        lab.run(
            "d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", "10.0.5.91:8888", "-g", "-w", "0"]
        )
        ipvs, vrrp = rec.frames(4)
        save("drained.ipvs", ipvs)
        save("drained.vrrp", vrrp)
        rs1 = IpvsSnapshot.from_dict(ipvs[-1]).real_server(f"tcp:{VIP1}:8888->10.0.5.91:8888")
        assert rs1 is not None and rs1.weight == 0
        lab.run(
            "d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", "10.0.5.91:8888", "-g", "-w", "1"]
        )

        # d2's keepalived stops: VRID 52 fails over to d1.
        lab.fault("keepalived-stop", node="d2")
        ipvs, vrrp = rec.frames(5)
        save("failover.ipvs", ipvs)
        save("failover.vrrp", vrrp)
        assert {"resign", "failover"} <= set(kinds(vrrp, 52)), vrrp[-1]["events"]
        assert {v["vrid"]: v["master"] for v in vrrp[-1]["vrids"]}[52] == "10.0.5.90"
        assert "host_mismatch" not in kinds(vrrp, 52), vrrp[-1]["events"]
        lab.fault("keepalived-start", node="d2")
        rec.pump(6.0)

        # d2 stops hearing d1: both advertise VRID 51 — split brain, seen from d1.
        lab.fault("vrrp-cut", src="d1", dst="d2")
        ipvs, vrrp = rec.frames(6)
        save("split.ipvs", ipvs)
        save("split.vrrp", vrrp)
        v51 = next(v for v in vrrp[-1]["vrids"] if v["vrid"] == 51)
        assert v51["split_brain"], v51

        with lab.scratch_netns() as name:
            from lvstop.sources.ipvs import IpvsReader

            with lab.netns(name), IpvsReader() as empty_reader:
                save("empty.ipvs", [empty_reader.read().to_dict()])
    finally:
        rec.close()
