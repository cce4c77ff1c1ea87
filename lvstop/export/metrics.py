"""One ``ExportSnapshot`` → the Prometheus text exposition (pure; no I/O, no threads).

``METRICS`` is the contract: every series ``lvstop export`` serves, its type, labels and help
(README's "Prometheus metrics" table is checked against it by a test). The ``node_ipvs_*``
series are node_exporter's ipvs collector's (1.5: ``collector/ipvs_linux.go`` over procfs's
``/proc/net/ip_vs`` parser) with the same names, labels and values, so existing dashboards keep
working:

- ``local_address`` is empty for a firewall-mark service, ``local_port`` is then ``0``,
  ``proto`` is ``TCP`` / ``UDP`` / ``SCTP`` / ``FWM`` and ``local_mark`` is the mark as the
  kernel prints it (8 upper-case hex digits: ``0000000A``), empty for other services;
- addresses as Go prints them (RFC 5952 IPv6, an IPv4-mapped IPv6 address as IPv4);
- ``--backend-labels`` keeps a subset of the six labels (node_exporter's
  ``--collector.ipvs.backend-labels``): real servers that then share their label values are
  summed into one series. lvstop's own per-real-server series use the same labels (so they
  join with node_exporter's) and are summed the same way: ``lvstop_real_server_drained`` then
  counts the drained ones.

A source that failed in the last poll has ``lvstop_source_up{source=...} 0`` and none of its
series (Prometheus marks them stale), never an HTTP error.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from lvstop import __version__
from lvstop.model.ipvs import IpvsSnapshot, Service, Stats, parse_service_key
from lvstop.model.keepalived import InstanceState
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.track.drift import RS_VERDICTS, Drift
from lvstop.track.rates import Rates

BACKEND_LABELS = (
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
)
SOURCES = ("ipvs", "vrrp", "keepalived")
#: the checks of ``lvstop.sources.vrrp_decode`` a bogus packet fails, in its order
BOGUS_CHECKS = ("truncated", "version", "type", "count", "checksum", "ttl")
INSTANCE_STATES = ("MASTER", "BACKUP", "FAULT", "INIT", "STOP")
VRID_LABELS = ("family", "vrid", "interface")
#: lvstop's per-real-server rates: (metric name, ``Rates`` field)
RS_RATES = (
    ("lvstop_real_server_connections_per_second", "cps"),
    ("lvstop_real_server_incoming_packets_per_second", "inpps"),
    ("lvstop_real_server_outgoing_packets_per_second", "outpps"),
    ("lvstop_real_server_incoming_bytes_per_second", "inbps"),
    ("lvstop_real_server_outgoing_bytes_per_second", "outbps"),
)
_B = "<backend labels>"  # stands for the --backend-labels subset in METRICS


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str  # as exposed (counters end in _total)
    kind: str  # "counter" | "gauge"
    labels: tuple[str, ...]
    help: str


def _defs(*rows: tuple[str, str, tuple[str, ...], str]) -> dict[str, MetricDef]:
    return {name: MetricDef(name, kind, labels, text) for name, kind, labels, text in rows}


METRICS: dict[str, MetricDef] = _defs(
    # -- node_exporter's ipvs collector, exactly ----------------------------------------------
    ("node_ipvs_connections_total", "counter", (), "The total number of connections made."),
    ("node_ipvs_incoming_packets_total", "counter", (), "The total number of incoming packets."),
    ("node_ipvs_outgoing_packets_total", "counter", (), "The total number of outgoing packets."),
    ("node_ipvs_incoming_bytes_total", "counter", (), "The total amount of incoming data."),
    ("node_ipvs_outgoing_bytes_total", "counter", (), "The total amount of outgoing data."),
    (
        "node_ipvs_backend_connections_active",
        "gauge",
        (_B,),
        "The current active connections by local and remote address.",
    ),
    (
        "node_ipvs_backend_connections_inactive",
        "gauge",
        (_B,),
        "The current inactive connections by local and remote address.",
    ),
    (
        "node_ipvs_backend_weight",
        "gauge",
        (_B,),
        "The current backend weight by local and remote address.",
    ),
    # -- IPVS, lvstop's own -------------------------------------------------------------------
    *(
        (
            name,
            "gauge",
            (_B,),
            f"lvstop's {what} per second over its last poll interval (counter deltas).",
        )
        for (name, _f), what in zip(
            RS_RATES,
            (
                "connections",
                "incoming packets",
                "outgoing packets",
                "incoming bytes",
                "outgoing bytes",
            ),
            strict=True,
        )
    ),
    (
        "lvstop_real_server_drained",
        "gauge",
        (_B,),
        "1 when the real server's weight is 0 (drained; summed: how many).",
    ),
    (
        "lvstop_real_server_persistent_connections",
        "gauge",
        (_B,),
        "Persistence templates pointing at the real server.",
    ),
    ("lvstop_ipvs_services", "gauge", (), "Virtual services in the IPVS table."),
    ("lvstop_ipvs_real_servers", "gauge", (), "Real servers in the IPVS table."),
    (
        "lvstop_ipvs_timeout_seconds",
        "gauge",
        ("timeout",),
        "IPVS connection timeouts (ipvsadm --set): tcp, tcpfin, udp.",
    ),
    (
        "lvstop_ipvs_sync_daemon",
        "gauge",
        ("state", "interface", "syncid"),
        "1 per running connection-sync daemon (master / backup).",
    ),
    # -- VRRP from the wire -------------------------------------------------------------------
    (
        "lvstop_vrrp_master",
        "gauge",
        (*VRID_LABELS, "master"),
        "1 for the router the adverts show as master of the VRID (absent: no master).",
    ),
    ("lvstop_vrrp_has_master", "gauge", VRID_LABELS, "1 when the VRID has a master on the wire."),
    ("lvstop_vrrp_routers", "gauge", VRID_LABELS, "Routers seen advertising the VRID."),
    (
        "lvstop_vrrp_failovers_total",
        "counter",
        VRID_LABELS,
        "Master changes seen on the wire since the exporter started.",
    ),
    (
        "lvstop_vrrp_last_failover_gap_seconds",
        "gauge",
        VRID_LABELS,
        "Time without a master during the last failover.",
    ),
    (
        "lvstop_vrrp_split_brain",
        "gauge",
        VRID_LABELS,
        "1 while more than one router claims the VRID as master.",
    ),
    (
        "lvstop_vrrp_split_brain_seconds_total",
        "counter",
        VRID_LABELS,
        "Time spent in split brain since the exporter started.",
    ),
    (
        "lvstop_vrrp_conflict_fields",
        "gauge",
        VRID_LABELS,
        "Advert fields the VRID's routers disagree on (interval, version, auth, addresses).",
    ),
    ("lvstop_vrrp_silent", "gauge", VRID_LABELS, "1 when the VRID's master went silent."),
    (
        "lvstop_vrrp_host_mismatch",
        "gauge",
        VRID_LABELS,
        "1 when the wire and this host's addresses disagree about who holds the VIPs.",
    ),
    ("lvstop_vrrp_local_vips", "gauge", VRID_LABELS, "VIPs of the VRID held by this host."),
    (
        "lvstop_vrrp_last_advert_age_seconds",
        "gauge",
        VRID_LABELS,
        "Seconds since the VRID's last valid advert.",
    ),
    (
        "lvstop_vrrp_bogus_packets_total",
        "counter",
        ("check",),
        "VRRP packets that failed a check (truncated, version, type, count, checksum, ttl).",
    ),
    ("lvstop_vrrp_adverts_total", "counter", (), "VRRP packets decoded."),
    (
        "lvstop_vrrp_capture_kernel_drops_total",
        "counter",
        (),
        "Packets the kernel dropped before the capture read them.",
    ),
    # -- keepalived ---------------------------------------------------------------------------
    ("lvstop_keepalived_running", "gauge", (), "1 when a keepalived parent runs in this netns."),
    (
        "lvstop_keepalived_instance_state",
        "gauge",
        ("vrrp_instance", "vrid", "state"),
        "1 for the state keepalived last reported for the VRRP instance (from its data dump).",
    ),
    (
        "lvstop_keepalived_instance_wire_disagree",
        "gauge",
        ("vrrp_instance", "vrid"),
        "1 when keepalived's state of the instance and the wire disagree.",
    ),
    (
        "lvstop_keepalived_state_age_seconds",
        "gauge",
        (),
        "Age of keepalived's last state dump the instance states and verdicts come from.",
    ),
    (
        "lvstop_keepalived_real_server_verdict",
        "gauge",
        (_B, "verdict"),
        "1 for the real server's verdict: config × keepalived's checkers × kernel "
        f"({', '.join(RS_VERDICTS)}).",
    ),
    (
        "lvstop_keepalived_virtual_server_verdict",
        "gauge",
        ("virtual_server", "verdict"),
        "1 for the virtual server's verdict (ok, missing, sorry, quorum-lost).",
    ),
    (
        "lvstop_keepalived_drift_problems",
        "gauge",
        (),
        "Things not as configured (virtual servers, real servers, instances), as "
        "lvstop keepalived lists them.",
    ),
    # -- the exporter -------------------------------------------------------------------------
    ("lvstop_source_up", "gauge", ("source",), "1 when the source's last poll succeeded."),
    (
        "lvstop_source_last_success_timestamp_seconds",
        "gauge",
        ("source",),
        "When the source last polled successfully (Unix time).",
    ),
    (
        "lvstop_source_poll_duration_seconds",
        "gauge",
        ("source",),
        "How long the source's last poll took.",
    ),
    (
        "lvstop_export_snapshot_timestamp_seconds",
        "gauge",
        (),
        "When the snapshot this scrape shows was taken (Unix time).",
    ),
    ("lvstop_build_info", "gauge", ("version",), "lvstop's version."),
)


def parse_backend_labels(text: str) -> tuple[str, ...]:
    """``--backend-labels`` (comma separated) → the labels in node_exporter's order;
    ValueError naming the unknown ones."""
    wanted = {label for label in text.split(",") if label}
    unknown = sorted(wanted - set(BACKEND_LABELS))
    if unknown:
        raise ValueError(
            f"unknown IPVS backend labels: {', '.join(unknown)} (known: {','.join(BACKEND_LABELS)})"
        )
    return tuple(label for label in BACKEND_LABELS if label in wanted)


# -- the snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    up: bool
    error: str = ""
    last_success: float | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class KeepalivedView:
    running: bool
    #: keepalived's VRRP instances from its last data dump (None: none read)
    instances: tuple[InstanceState, ...] | None = None
    #: when that dump was read (Unix time)
    state_time: float | None = None
    drift: Drift | None = None


@dataclass(frozen=True, slots=True)
class ExportSnapshot:
    """Everything one scrape shows, from the last poll of each source; never changed after
    it is built (the poller builds a new one and swaps it in)."""

    time: float
    sources: tuple[SourceStatus, ...] = ()
    ipvs: IpvsSnapshot | None = None
    totals: Stats | None = None
    #: lvstop's rates by real-server key (``lvstop.track.rates``)
    rates: Mapping[str, Rates] = field(default_factory=dict)
    vrrp: VrrpSnapshot | None = None
    bogus_by_check: tuple[tuple[str, int], ...] = ()
    keepalived: KeepalivedView | None = None

    def up(self, source: str) -> bool:
        return any(s.name == source and s.up for s in self.sources)


# -- label values as node_exporter renders them -----------------------------------------------


def go_ip(address: str) -> str:
    """An address as Go's ``net.IP.String()`` prints it (node_exporter's label values)."""
    if ":" in address:
        mapped = ipaddress.IPv6Address(address).ipv4_mapped
        if mapped is not None:
            return str(mapped)
    return address


def service_labels(svc: Service) -> tuple[str, str, str, str]:
    """(local_address, local_port, proto, local_mark) of a service."""
    if svc.protocol == "fwmark":
        return "", "0", "FWM", f"{svc.fwmark or 0:08X}"
    return go_ip(svc.address or ""), str(svc.port or 0), svc.protocol.upper(), ""


def _key_labels(svc_key: str) -> tuple[str, str, str, str]:
    proto, _family, address, port, fwmark = parse_service_key(svc_key)
    if proto == "fwmark":
        return "", "0", "FWM", f"{fwmark or 0:08X}"
    return go_ip(address or ""), str(port or 0), proto.upper(), ""


class _Picker:
    """Builds the backend label values kept by ``--backend-labels``."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.index = [BACKEND_LABELS.index(name) for name in labels]

    def values(self, svc: tuple[str, str, str, str], address: str, port: int) -> tuple[str, ...]:
        local_address, local_port, proto, mark = svc
        full = (local_address, local_port, go_ip(address), str(port), proto, mark)
        return tuple(full[i] for i in self.index)


# -- the collector -----------------------------------------------------------------------------


class _Family:
    """One metric family as the collector builds it: rows of (label values, value).

    Both renderers read it: ``render`` writes the text exposition itself (a label set is
    formatted once per scrape, not once per family: the ten per-real-server families share
    theirs), ``render_reference`` hands prometheus-client's families to its
    ``generate_latest``; a unit test holds the two byte-equal."""

    __slots__ = ("help", "kind", "labels", "name", "rows")

    def __init__(self, name: str, labels: tuple[str, ...] = ()) -> None:
        definition = METRICS[name]
        self.name = name  # as exposed: counters end in _total
        self.kind = definition.kind
        self.help = definition.help
        self.labels = labels
        self.rows: list[tuple[tuple[str, ...], float]] = []

    def add_metric(self, values: tuple[str, ...] | list[str], value: float) -> None:
        self.rows.append((tuple(values), value))

    def to_client(self) -> Metric:
        family: GaugeMetricFamily | CounterMetricFamily
        if self.kind == "counter":
            family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        else:
            family = GaugeMetricFamily(self.name, self.help, labels=self.labels)
        for values, value in self.rows:
            family.add_metric(values, value)
        return family


def _gauge(name: str, labels: tuple[str, ...] = ()) -> _Family:
    return _Family(name, labels)


def _counter(name: str, labels: tuple[str, ...] = ()) -> _Family:
    return _Family(name, labels)


class SnapshotCollector:
    """A prometheus-client collector over one ``ExportSnapshot`` (and nothing else)."""

    def __init__(
        self, snapshot: ExportSnapshot, backend_labels: tuple[str, ...] = BACKEND_LABELS
    ) -> None:
        self.snap = snapshot
        self.picker = _Picker(backend_labels)

    def families(self) -> Iterator[_Family]:
        """The families that have samples (node_exporter prints no empty family either)."""
        return (family for family in self._families() if family.rows)

    def collect(self) -> Iterator[Metric]:
        """prometheus-client's collector protocol (``render_reference``)."""
        return (family.to_client() for family in self.families())

    def _families(self) -> Iterator[_Family]:
        snap = self.snap
        if snap.up("ipvs"):
            yield from self._ipvs()
        if snap.up("vrrp") and snap.vrrp is not None:
            yield from self._vrrp(snap.vrrp)
        if snap.up("keepalived") and snap.keepalived is not None:
            yield from self._keepalived(snap.keepalived)
        yield from self._exporter()

    def _ipvs(self) -> Iterator[_Family]:
        snap = self.snap
        totals = snap.totals
        if totals is not None:
            for name, value in (
                ("node_ipvs_connections_total", totals.conns),
                ("node_ipvs_incoming_packets_total", totals.inpkts),
                ("node_ipvs_outgoing_packets_total", totals.outpkts),
                ("node_ipvs_incoming_bytes_total", totals.inbytes),
                ("node_ipvs_outgoing_bytes_total", totals.outbytes),
            ):
                counter = _counter(name)
                counter.add_metric((), value)
                yield counter
        ipvs = snap.ipvs
        if ipvs is None:
            return
        # label values -> [active, inactive, weight, 5 rates, drained, persistent]
        sums: dict[tuple[str, ...], list[float]] = {}
        values = self.picker.values
        rates = snap.rates
        n_rs = 0
        for svc in ipvs.services:
            svc_values = service_labels(svc)
            for rs in svc.real_servers:
                n_rs += 1
                key = values(svc_values, rs.address, rs.port)
                row = sums.get(key)
                if row is None:
                    row = sums[key] = [0.0] * 10
                row[0] += rs.active_conns
                row[1] += rs.inactive_conns
                row[2] += rs.weight
                r = rates.get(rs.key)
                if r is not None:
                    row[3] += r.cps
                    row[4] += r.inpps
                    row[5] += r.outpps
                    row[6] += r.inbps
                    row[7] += r.outbps
                row[8] += rs.weight == 0
                row[9] += rs.persistent_conns
        labels = self.picker.labels
        names: list[tuple[str, int]] = [
            ("node_ipvs_backend_connections_active", 0),
            ("node_ipvs_backend_connections_inactive", 1),
            ("node_ipvs_backend_weight", 2),
            *((name, 3 + i) for i, (name, _f) in enumerate(RS_RATES)),
            ("lvstop_real_server_drained", 8),
            ("lvstop_real_server_persistent_connections", 9),
        ]
        for name, column in names:
            family = _gauge(name, labels)
            add = family.add_metric
            for key, row in sums.items():
                add(key, row[column])
            yield family
        for name, value in (
            ("lvstop_ipvs_services", len(ipvs.services)),
            ("lvstop_ipvs_real_servers", n_rs),
        ):
            family = _gauge(name)
            family.add_metric((), value)
            yield family
        if ipvs.timeouts is not None:
            family = _gauge("lvstop_ipvs_timeout_seconds", ("timeout",))
            for name, seconds in ipvs.timeouts.to_dict().items():
                family.add_metric((name,), seconds)
            yield family
        family = _gauge("lvstop_ipvs_sync_daemon", ("state", "interface", "syncid"))
        for daemon in ipvs.daemons:
            family.add_metric((daemon.state, daemon.interface, str(daemon.syncid)), 1)
        yield family

    def _vrrp(self, vrrp: VrrpSnapshot) -> Iterator[_Family]:
        gauges = {
            name: _gauge(name, VRID_LABELS)
            for name in (
                "lvstop_vrrp_has_master",
                "lvstop_vrrp_routers",
                "lvstop_vrrp_last_failover_gap_seconds",
                "lvstop_vrrp_split_brain",
                "lvstop_vrrp_conflict_fields",
                "lvstop_vrrp_silent",
                "lvstop_vrrp_host_mismatch",
                "lvstop_vrrp_local_vips",
                "lvstop_vrrp_last_advert_age_seconds",
            )
        }
        master = _gauge("lvstop_vrrp_master", (*VRID_LABELS, "master"))
        failovers = _counter("lvstop_vrrp_failovers_total", VRID_LABELS)
        split_seconds = _counter("lvstop_vrrp_split_brain_seconds_total", VRID_LABELS)
        for v in vrrp.vrids:
            key = (v.family, str(v.vrid), v.interface or "")
            if v.master is not None:
                master.add_metric((*key, v.master), 1)
            values: dict[str, float | None] = {
                "lvstop_vrrp_has_master": v.master is not None,
                "lvstop_vrrp_routers": len(v.routers),
                "lvstop_vrrp_last_failover_gap_seconds": None
                if v.last_gap_ms is None
                else v.last_gap_ms / 1000,
                "lvstop_vrrp_split_brain": v.split_brain,
                "lvstop_vrrp_conflict_fields": len(v.conflict_fields),
                "lvstop_vrrp_silent": v.silent,
                "lvstop_vrrp_host_mismatch": v.host_mismatch is not None,
                "lvstop_vrrp_local_vips": len(v.local_vips),
                "lvstop_vrrp_last_advert_age_seconds": v.last_advert_age(vrrp.time),
            }
            for name, value in values.items():
                if value is not None:
                    gauges[name].add_metric(key, float(value))
            failovers.add_metric(key, v.failovers)
            split_seconds.add_metric(key, v.split_brain_seconds)
        yield master
        yield from gauges.values()
        yield failovers
        yield split_seconds
        bogus = _counter("lvstop_vrrp_bogus_packets_total", ("check",))
        counted = dict(self.snap.bogus_by_check)
        for check in BOGUS_CHECKS:
            bogus.add_metric((check,), counted.get(check, 0))
        yield bogus
        adverts = _counter("lvstop_vrrp_adverts_total")
        adverts.add_metric((), vrrp.adverts_total)
        yield adverts
        drops = _counter("lvstop_vrrp_capture_kernel_drops_total")
        drops.add_metric((), vrrp.capture.kernel_drops)
        yield drops

    def _keepalived(self, view: KeepalivedView) -> Iterator[_Family]:
        running = _gauge("lvstop_keepalived_running")
        running.add_metric((), view.running)
        yield running
        if view.instances is not None:
            states = _gauge("lvstop_keepalived_instance_state", ("vrrp_instance", "vrid", "state"))
            for inst in view.instances:
                vrid = "" if inst.virtual_router_id is None else str(inst.virtual_router_id)
                for state in INSTANCE_STATES:
                    states.add_metric((inst.name, vrid, state), inst.state == state)
            yield states
        if view.state_time is not None:
            age = _gauge("lvstop_keepalived_state_age_seconds")
            age.add_metric((), max(0.0, self.snap.time - view.state_time))
            yield age
        drift = view.drift
        if drift is None:
            return
        disagree = _gauge("lvstop_keepalived_instance_wire_disagree", ("vrrp_instance", "vrid"))
        for idrift in drift.instances:
            vrid = "" if idrift.virtual_router_id is None else str(idrift.virtual_router_id)
            disagree.add_metric((idrift.name, vrid), idrift.agree is False)
        yield disagree
        labels = (*self.picker.labels, "verdict")
        verdicts: dict[tuple[str, ...], int] = {}
        vs_verdict = _gauge(
            "lvstop_keepalived_virtual_server_verdict", ("virtual_server", "verdict")
        )
        for vs in drift.virtual_servers:
            vs_verdict.add_metric((vs.label, vs.verdict), 1)
            for rs in vs.real_servers:
                try:
                    svc_values = _key_labels(rs.service_key)
                except ValueError:
                    continue  # a group that is not defined: no kernel key to label with
                key = (*self.picker.values(svc_values, rs.address, rs.port), rs.verdict)
                verdicts[key] = verdicts.get(key, 0) + 1
        rs_verdict = _gauge("lvstop_keepalived_real_server_verdict", labels)
        for key, count in verdicts.items():
            rs_verdict.add_metric(key, count)
        yield rs_verdict
        yield vs_verdict
        problems = _gauge("lvstop_keepalived_drift_problems")
        problems.add_metric((), len(drift.problems()))
        yield problems

    def _exporter(self) -> Iterator[_Family]:
        snap = self.snap
        up = _gauge("lvstop_source_up", ("source",))
        last = _gauge("lvstop_source_last_success_timestamp_seconds", ("source",))
        took = _gauge("lvstop_source_poll_duration_seconds", ("source",))
        for status in snap.sources:
            up.add_metric((status.name,), status.up)
            if status.last_success is not None:
                last.add_metric((status.name,), status.last_success)
            took.add_metric((status.name,), status.duration)
        yield up
        yield last
        yield took
        stamp = _gauge("lvstop_export_snapshot_timestamp_seconds")
        stamp.add_metric((), snap.time)
        yield stamp
        info = _gauge("lvstop_build_info", ("version",))
        info.add_metric((__version__,), 1)
        yield info


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(snapshot: ExportSnapshot, backend_labels: tuple[str, ...] = BACKEND_LABELS) -> bytes:
    """The text exposition (format 0.0.4) of one snapshot: what ``render_reference`` writes,
    byte for byte (a unit test compares them), about ten times faster at 10,000 real
    servers (docs/BENCHMARKS.md): each label set is formatted once per scrape, values go
    through prometheus-client's own ``floatToGoString``."""
    out: list[str] = []
    append = out.append
    label_text: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for family in SnapshotCollector(snapshot, backend_labels).families():
        name, names = family.name, family.labels
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        append(f"# HELP {name} {help_text}\n# TYPE {name} {family.kind}\n")
        order = sorted(range(len(names)), key=names.__getitem__)  # sorted by label name
        for values, value in family.rows:
            key = (names, values)
            labels = label_text.get(key)
            if labels is None:
                labels = label_text[key] = (
                    "{" + ",".join(f'{names[i]}="{_escape_value(values[i])}"' for i in order) + "}"
                    if names
                    else ""
                )
            append(f"{name}{labels} {floatToGoString(value)}\n")
    return "".join(out).encode()


def render_reference(
    snapshot: ExportSnapshot, backend_labels: tuple[str, ...] = BACKEND_LABELS
) -> bytes:
    """The same exposition through prometheus-client's ``generate_latest`` (the plain path
    ``render`` is held equal to)."""
    return generate_latest(SnapshotCollector(snapshot, backend_labels))


class Published:
    """The snapshot scrapes are served from. ``publish`` swaps in a new one (one reference
    assignment: atomic); a scrape takes the current one once and renders only it, so it never
    mixes two polls. The rendering is done at most once per snapshot, on the first scrape."""

    def __init__(self, backend_labels: tuple[str, ...] = BACKEND_LABELS) -> None:
        self.backend_labels = backend_labels
        self._current: _Entry | None = None

    def publish(self, snapshot: ExportSnapshot) -> None:
        self._current = _Entry(snapshot)

    @property
    def snapshot(self) -> ExportSnapshot | None:
        entry = self._current
        return None if entry is None else entry.snapshot

    def body(self) -> bytes | None:
        """The exposition of the current snapshot (None before the first poll)."""
        entry = self._current
        return None if entry is None else entry.rendered(self.backend_labels)


class _Entry:
    def __init__(self, snapshot: ExportSnapshot) -> None:
        self.snapshot = snapshot
        self._lock = threading.Lock()
        self._body: bytes | None = None

    def rendered(self, labels: tuple[str, ...]) -> bytes:
        with self._lock:
            if self._body is None:
                self._body = render(self.snapshot, labels)
            return self._body


def describe() -> list[dict[str, Any]]:
    """The contract as data (README's table, ``lvstop export --list-metrics``)."""
    return [
        {
            "name": m.name,
            "type": m.kind,
            "labels": [
                ("local_address, local_port, remote_address, remote_port, proto, local_mark")
                if label == _B
                else label
                for label in m.labels
            ],
            "help": m.help,
        }
        for m in METRICS.values()
    ]
