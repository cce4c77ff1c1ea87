"""`lvstop dump` rendering, on snapshots replayed from the lab, against ipvsadm's own output."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle
from ipvs_record import Replayer

from lvstop.commands import dump
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.sources.ipvs import IpvsReader

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"


def replayed(name: str) -> tuple[IpvsSnapshot, dict[str, Any]]:
    doc = json.loads((DATA / name).read_text())
    return IpvsReader(Replayer(doc["exchanges"])).read(), doc


@pytest.mark.parametrize("name", ["table-seed1.json", "table-seed2.json"])
def test_order_and_service_lines_match_ipvsadm_ln(name: str) -> None:
    snap, doc = replayed(name)
    listing = doc["ipvsadm"]["list"]
    want_lines = [
        line.rstrip() for line in listing.splitlines() if re.match(r"^(TCP|UDP|SCTP|FWM) ", line)
    ]
    got_lines = [dump.service_line(s) for s in dump.sorted_services(snap)]
    norm = [re.sub(r"\s+", " ", w) for w in want_lines]
    got = [re.sub(r"\s+", " ", g) for g in got_lines]
    # the same lines; the same order except among IPv6 addresses, which ipvsadm compares
    # with a wrapping 32-bit subtraction (not worth copying)
    assert sorted(got) == sorted(norm)
    assert [g for g in got if "[" not in g] == [w for w in norm if "[" not in w]
    want_rs = [
        ipvs_oracle.norm_endpoint(line.split()[1])
        for line in listing.splitlines()
        if line.startswith("  -> ") and not line.startswith("  -> RemoteAddress")
    ]
    got_rs = [rs.endpoint for s in dump.sorted_services(snap) for rs in s.real_servers]
    assert sorted(got_rs) == sorted(want_rs)
    assert [r for r in got_rs if "[" not in r] == [w for w in want_rs if "[" not in w]


@pytest.mark.parametrize("mode", ["list", "stats", "rate"])
def test_tables_render_every_object(mode: str) -> None:
    snap, _ = replayed("lab-d1-after-load.json")
    out = io.StringIO()
    dump.render_table(dump.sorted_services(snap), snap.service_stats, mode, True, None, None, out)
    text = out.getvalue()
    for svc, rs in snap.real_servers():
        assert rs.endpoint in text and svc.label in text
    if mode == "stats":
        vip1 = snap.service("tcp:10.0.5.96:8888")
        assert vip1 is not None
        assert str(snap.stats_of(vip1.key).inbytes) in text


def test_timeouts_view_and_human_numbers() -> None:
    snap, doc = replayed("table-seed1.json")
    out = io.StringIO()
    dump.render_timeouts(snap, out)
    assert out.getvalue().splitlines()[0] == doc["ipvsadm"]["timeout"].strip()
    assert "sync daemon (mcast=lo, syncid=1" in out.getvalue()
    assert dump.human(99_999_999, False) == "99999999"
    assert dump.human(123_456_789_012, False) == "123G"
    assert dump.human(123_456_789_012, True) == "123456789012"
