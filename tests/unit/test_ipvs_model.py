"""The IPVS model: keys and the lvstop.dump/1 JSON round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvstop.model.ipvs import (
    FORWARDS,
    SCHEMA,
    STATS_FIELDS,
    IpvsSnapshot,
    RealServer,
    Service,
    ServiceCounters,
    Stats,
    SyncDaemon,
    Timeouts,
)


def test_keys() -> None:
    v4 = Service("tcp", "inet", "10.0.5.96", 8888)
    assert v4.key == "tcp:10.0.5.96:8888"
    v6 = Service("tcp", "inet6", "2001:db8::1", 80)
    assert v6.key == "tcp:[2001:db8::1]:80"
    assert Service("fwmark", "inet", None, None, fwmark=4).key == "fwm:4"
    assert Service("fwmark", "inet6", None, None, fwmark=4).key == "fwm6:4"
    rs = RealServer("10.0.5.91", 8888, service_key=v4.key)
    assert rs.key == "tcp:10.0.5.96:8888->10.0.5.91:8888"
    rs6 = RealServer("2001:db8::5", 80, family="inet6", service_key=v6.key)
    assert rs6.key == "tcp:[2001:db8::1]:80->[2001:db8::5]:80"


def test_lookup_by_key() -> None:
    svc = Service(
        "udp",
        "inet",
        "10.0.5.97",
        53,
        real_servers=(RealServer("10.0.5.92", 53, service_key="udp:10.0.5.97:53"),),
    )
    snap = IpvsSnapshot((svc,))
    assert snap.service("udp:10.0.5.97:53") is svc
    assert snap.real_server("udp:10.0.5.97:53->10.0.5.92:53") is svc.real_servers[0]
    assert snap.real_server("udp:10.0.5.97:53->10.0.5.93:53") is None
    assert snap.real_server("nonsense") is None


def test_schema_shape_is_exact() -> None:
    svc = Service(
        "tcp",
        "inet",
        "10.0.5.96",
        8888,
        scheduler="rr",
        real_servers=(
            RealServer("10.0.5.91", 8888, forward="route", service_key="tcp:10.0.5.96:8888"),
        ),
    )
    doc = IpvsSnapshot((svc,), Timeouts(900, 120, 300)).to_dict()
    assert doc["schema"] == SCHEMA
    assert doc["timeouts"] == {"tcp": 900, "tcpfin": 120, "udp": 300}
    s = doc["services"][0]
    for k in (
        "protocol",
        "family",
        "address",
        "port",
        "fwmark",
        "scheduler",
        "flags",
        "persistence_timeout",
        "persistence_mask",
        "stats",
        "real_servers",
    ):
        assert k in s
    assert list(s["stats"]) == list(STATS_FIELDS)
    r = s["real_servers"][0]
    for k in (
        "address",
        "port",
        "family",
        "forward",
        "weight",
        "upper_threshold",
        "lower_threshold",
        "active_conns",
        "inactive_conns",
        "persistent_conns",
        "stats",
    ):
        assert k in r
    assert r["forward"] == "route"


def test_from_dict_rejects_other_schema() -> None:
    with pytest.raises(ValueError):
        IpvsSnapshot.from_dict({"schema": "something/2"})


u64 = st.integers(0, 2**64 - 1)
stats_st = st.builds(Stats, *([u64] * 10))
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
port = st.integers(0, 65535)


@st.composite
def services(draw: st.DrawFn) -> tuple[Service, Stats]:
    fam = draw(st.sampled_from(["inet", "inet6"]))
    proto = draw(st.sampled_from(["tcp", "udp", "sctp", "fwmark"]))
    addr_st = v4 if fam == "inet" else v6
    if proto == "fwmark":
        addr, p, mark = None, None, draw(st.integers(1, 2**32 - 1))
    else:
        addr, p, mark = draw(addr_st), draw(port), None
    key = Service(proto, fam, addr, p, mark).key
    rss = draw(
        st.lists(
            st.builds(
                RealServer,
                addr_st,
                port,
                st.just(fam),
                st.sampled_from(FORWARDS),
                st.integers(0, 65535),
                st.integers(0, 2**31),
                st.integers(0, 2**31),
                st.integers(0, 2**31),
                st.integers(0, 2**31),
                st.integers(0, 2**31),
                stats_st,
                st.just(key),
            ),
            max_size=4,
            unique_by=lambda r: (r.address, r.port),
        )
    )
    svc = Service(
        proto,
        fam,
        addr,
        p,
        mark,
        scheduler=draw(st.sampled_from(["rr", "wlc", "sh", "mh"])),
        flags=tuple(draw(st.sets(st.sampled_from(["persistent", "one-packet"])))),
        persistence_timeout=draw(st.integers(0, 10**6)),
        persistence_mask=draw(st.integers(0, 32 if fam == "inet" else 128)),
        real_servers=tuple(rss),
    )
    return svc, draw(stats_st)


@given(
    st.lists(services(), max_size=4, unique_by=lambda s: s[0].key),
    st.one_of(
        st.none(),
        st.builds(Timeouts, st.integers(0, 2**31), st.integers(0, 2**31), st.integers(0, 2**31)),
    ),
    st.lists(
        st.builds(
            SyncDaemon,
            st.sampled_from(["master", "backup"]),
            st.text("abcdefgh0123", min_size=1, max_size=15),
            st.integers(0, 255),
        ),
        max_size=2,
    ),
    st.floats(0, 1e9),
    st.floats(0, 2e9),
)
def test_json_round_trip(
    svcs: list[tuple[Service, Stats]],
    timeouts: Timeouts | None,
    daemons: list[SyncDaemon],
    mono: float,
    wall: float,
) -> None:
    snap = IpvsSnapshot(
        tuple(svc for svc, _stats in svcs),
        timeouts,
        tuple(daemons),
        mono,
        wall,
        service_stats={svc.key: stats for svc, stats in svcs},
    )
    back = IpvsSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert back == snap
    assert back.to_dict() == snap.to_dict()


@given(
    st.dictionaries(
        st.text("abc:0123", min_size=1, max_size=6),
        st.one_of(stats_st, st.tuples(*([u64] * 10))),
        max_size=6,
    ),
    st.data(),
)
def test_service_counters_read_as_the_stats_they_hold(
    values: dict[str, Stats | tuple[int, ...]], data: st.DataObject
) -> None:
    """Built when read, in any order, or given built: the same mapping as every Stats built
    up front (a tuple is the ten values in Stats' field order)."""
    eager = {k: v if isinstance(v, Stats) else Stats(*v) for k, v in values.items()}
    lazy = ServiceCounters(dict(values))
    reads = st.lists(st.sampled_from(sorted(values)), max_size=4) if values else st.just([])
    for key in data.draw(reads):
        assert lazy[key] == eager[key] and lazy.get(key) is lazy[key]  # built once
    assert list(lazy) == list(eager) and len(lazy) == len(eager)
    assert all(key in lazy for key in eager) and "missing key" not in lazy
    assert lazy == eager and dict(lazy) == eager
