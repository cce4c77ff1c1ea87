"""/proc/net/ip_vs_conn parsing and aggregation (lines recorded in the lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvstop.errors import LvstopError
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service
from lvstop.sources.conns import (
    aggregate_text,
    counts_by_key,
    decode_counts,
    parse_conn_line,
    parse_conn_table,
    read_conn_counts,
    read_conns,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"

# recorded in the lab (UML 6.1): three SYNs through a persistent rr service, masq
TABLE = """\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A000564 0000 0A000560 22B8 0A00055B 22B8 NONE             28
TCP 0A000564 AA18 0A000560 22B8 0A00055B 22B8 SYN_RECV         58
TCP 0A000564 AA1E 0A000560 22B8 0A00055B 22B8 SYN_RECV         58
TCP 0A000564 AA12 0A000560 22B8 0A00055B 22B8 SYN_RECV         58
"""


def test_parse_line() -> None:
    e = parse_conn_line("TCP 0A000564 AA18 0A000560 22B8 0A00055B 22B8 SYN_RECV         58")
    assert e.protocol == "tcp"
    assert e.client_endpoint == "10.0.5.100:43544"
    assert e.virtual_endpoint == "10.0.5.96:8888"
    assert e.real_endpoint == "10.0.5.91:8888"
    assert e.state == "SYN_RECV" and e.expires == 58 and e.pe_name is None


def test_parse_ipv6_line_and_pe_data() -> None:
    e = parse_conn_line(
        "UDP 2001:0db8:0000:0000:0000:0000:0000:0100 D3A5 2001:0db8:0000:0000:0000:0000:"
        "0000:0001 13C4 0A00055C 13C4 UDP             119 sip 1234@host"
    )
    assert e.client_address == "2001:db8::100"
    assert e.virtual_endpoint == "[2001:db8::1]:5060"
    assert e.real_endpoint == "10.0.5.92:5060"
    assert (e.pe_name, e.pe_data) == ("sip", "1234@host")


def test_bad_lines_are_warnings() -> None:
    entries, warnings = parse_conn_table(TABLE + "TCP garbage\nTCP ZZZZZZZZ 0 0 0 0 0 X 1\n")
    assert len(entries) == 4
    assert len(warnings) == 2 and "line 6" in warnings[0]


def test_aggregate_matches_entries() -> None:
    entries, _ = parse_conn_table(TABLE)
    counts = decode_counts(aggregate_text(TABLE))
    assert [(c.state, c.count) for c in counts] == [("NONE", 1), ("SYN_RECV", 3)]
    assert sum(c.count for c in counts) == len(entries)
    assert counts[0].virtual_endpoint == "10.0.5.96:8888"


def test_counts_by_snapshot_keys_including_fwmark() -> None:
    svc = Service(
        "tcp",
        "inet",
        "10.0.5.96",
        8888,
        real_servers=(RealServer("10.0.5.91", 8888, service_key="tcp:10.0.5.96:8888"),),
    )
    fwm = Service(
        "fwmark",
        "inet",
        None,
        None,
        fwmark=4,
        real_servers=(RealServer("10.0.5.92", 0, service_key="fwm:4"),),
    )
    snap = IpvsSnapshot((svc, fwm))
    text = TABLE + "TCP 0A000564 AA20 0A000561 0050 0A00055C 0050 ESTABLISHED     899\n"
    keyed = counts_by_key(decode_counts(aggregate_text(text)), snap)
    assert keyed[("tcp:10.0.5.96:8888", "tcp:10.0.5.96:8888->10.0.5.91:8888", "SYN_RECV")] == 3
    assert keyed[("fwm:4", "fwm:4->10.0.5.92:0", "ESTABLISHED")] == 1


def test_read_from_file_with_progress(tmp_path: Path) -> None:
    big = TABLE + "".join(
        f"TCP 0A000564 {p:04X} 0A000560 22B8 0A00055B 22B8 ESTABLISHED     899\n"
        for p in range(20000)
    )
    path = tmp_path / "ip_vs_conn"
    path.write_text(big)
    seen: list[int] = []
    counts = read_conn_counts(str(path), seen.append)
    assert sum(c.count for c in counts) == 20004
    assert seen and seen[-1] == 20004 and seen == sorted(seen)
    entries, warnings = read_conns(str(path))
    assert len(entries) == 20004 and not warnings


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(LvstopError, match="does not exist"):
        read_conns(str(tmp_path / "nope"))


def _line(draw_proto: str, v6_client: bool, v6_dest: bool, port: int, state: str) -> str:
    if v6_client:
        c = "2001:0db8:0000:0000:0000:0000:0000:0100"
        v = "2001:0db8:0000:0000:0000:0000:0000:0001"
    else:
        c, v = "0A000564", "0A000560"
    d = "2001:0db8:0000:0000:0000:0000:0000:0007" if v6_dest else "0A00055B"
    return f"{draw_proto:<3} {c} {port:04X} {v} 0050 {d} 0050 {state:<11} {port % 900:7d}"


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lvstop.sources.conns import _AGG  # noqa: E402


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["TCP", "UDP", "SCTP"]),
            st.booleans(),
            st.booleans(),
            st.integers(0, 65535),
            st.sampled_from(
                [
                    "ESTABLISHED",
                    "SYN_RECV",
                    "FIN_WAIT",
                    "UDP",
                    "NONE",
                    "COOKIE_ECHOED",
                    "CLOSE_WAIT",
                ]
            ),
        ),
        max_size=60,
    )
)
def test_fast_aggregate_equals_the_plain_regex(
    rows: list[tuple[str, bool, bool, int, str]],
) -> None:
    text = TABLE.splitlines()[0] + "\n" + "".join(_line(*r) + "\n" for r in rows)
    from collections import Counter

    assert aggregate_text(text) == Counter(t for t in _AGG.findall(text) if t[0] != "Pro")


def test_recorded_ipv4_and_ipv6_table_agrees_with_ipvsadm_lnc() -> None:
    """Recorded in the lab: IPv6 (full %pI6 form) and IPv4 entries, a persistence template."""
    import json
    import sys

    sys.path.insert(0, str(DATA.parents[1]))
    import ipvs_oracle

    doc = json.loads((DATA / "conns-v4-v6.json").read_text())
    entries, warnings = parse_conn_table(doc["ip_vs_conn"])
    assert not warnings
    assert sorted(
        (e.protocol, e.state, e.client_endpoint, e.virtual_endpoint, e.real_endpoint)
        for e in entries
    ) == sorted(ipvs_oracle.parse_lnc(doc["ipvsadm_lnc"]))
    counts = decode_counts(aggregate_text(doc["ip_vs_conn"]))
    assert sum(c.count for c in counts) == len(entries)
    assert {c.virtual_endpoint for c in counts} == {"[2001:db8::1]:53", "10.0.5.96:53"}
    assert ("NONE", 1) in {(c.state, c.count) for c in counts}
