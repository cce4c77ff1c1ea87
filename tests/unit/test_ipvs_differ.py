"""The IPVS differ (track/events.py) says what a plain comparison of two snapshots says: the
services added and removed (by key sets), and per service present in both, the real servers
added, removed and reweighted. Its shortcuts (no key sets when the services are the same,
real-server tuples compared by identity first) never hide a change."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service
from lvstop.track.events import IpvsDiffer


def plain_changes(before: IpvsSnapshot, after: IpvsSnapshot) -> set[tuple[str, str]]:
    """(kind, what) of every change, from key sets and dicts alone."""
    old, new = before.by_key(), after.by_key()
    out = {("service_added", k) for k in set(new) - set(old)}
    out |= {("service_removed", k) for k in set(old) - set(new)}
    for key in set(old) & set(new):
        a = {rs.key: rs.weight for rs in old[key].real_servers}
        b = {rs.key: rs.weight for rs in new[key].real_servers}
        out |= {("rs_added", k) for k in set(b) - set(a)}
        out |= {("rs_removed", k) for k in set(a) - set(b)}
        out |= {("weight", k) for k in set(a) & set(b) if a[k] != b[k]}
    return out


def differ_changes(before: IpvsSnapshot, after: IpvsSnapshot) -> set[tuple[str, str]]:
    differ = IpvsDiffer()
    differ.update(before, 0.0)
    out = set()
    old, new = before.by_key(), after.by_key()
    for event in differ.update(after, 1.0):
        if event.kind in ("service_added", "service_removed"):
            svc = next(s for s in (*new.values(), *old.values()) if s.label in event.text)
            out.add((event.kind, svc.key))
        else:
            label = event.text.split(" in " if event.kind == "weight" else " ")[0]
            svc = next(s for s in new.values() if f"{s.label} " in event.text + " ")
            out.add((event.kind, f"{svc.key}->{label}"))
    return out


def service(port: int, real_servers: dict[int, int]) -> Service:
    key = f"tcp:10.0.0.1:{port}"
    return Service(
        "tcp",
        "inet",
        "10.0.0.1",
        port,
        real_servers=tuple(
            RealServer(f"10.1.0.{host}", 80, weight=weight, service_key=key)
            for host, weight in sorted(real_servers.items())
        ),
    )


tables = st.dictionaries(
    st.integers(1, 6),  # port -> {real server host -> weight}
    st.dictionaries(st.integers(1, 5), st.integers(0, 3), max_size=4),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(before=tables, after=tables, shared=st.booleans())
def test_the_differ_says_what_a_plain_comparison_says(
    before: dict[int, dict[int, int]], after: dict[int, dict[int, int]], shared: bool
) -> None:
    old = IpvsSnapshot(tuple(service(p, rs) for p, rs in sorted(before.items())))
    if shared:  # a partial read: the real servers not read again are the very same tuple
        by_port = {svc.port: svc for svc in old.services}
        new_services = tuple(
            by_port[p] if p in by_port and before[p] == rs else service(p, rs)
            for p, rs in sorted(after.items())
        )
    else:
        new_services = tuple(service(p, rs) for p, rs in sorted(after.items()))
    new = IpvsSnapshot(new_services)
    assert differ_changes(old, new) == plain_changes(old, new)
