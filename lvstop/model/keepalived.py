"""keepalived's configuration as frozen dataclasses, and the ``lvstop.keepalived/1`` JSON form.

Built by ``lvstop.sources.keepalived_conf`` (never by executing anything from the config);
read by ``lvstop keepalived``, the drift tracker (``lvstop.track.drift``) and ``lvstop doctor``.
``KeepalivedConfig.to_dict()`` *is* the ``lvstop keepalived --json`` schema: keys may be added,
none renamed.

Every object remembers where it was written (``file``, ``line``) so a verdict can point at the
line to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA = "lvstop.keepalived/1"

#: the keepalived release whose rules (keyword handlers, load-time checks) the parser applies
RULES_VERSION = "2.2.7"

#: the health checkers keepalived 2.2 knows
CHECKER_TYPES = (
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
)

#: keepalived's lb_kind words -> the forward names lvstop.model.ipvs uses
LB_KIND_FORWARD = {"NAT": "masq", "DR": "route", "TUN": "tunnel"}


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the configuration: the file (absolute path) and its 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Where("", 0)


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something keepalived would complain about or ignore, never fatal."""

    file: str
    line: int
    message: str
    #: "warning": keepalived runs anyway; "error": keepalived (or its VRRP / checker process)
    #: would refuse this config and exit
    level: str = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "level": self.level}

    def __str__(self) -> str:
        prefix = "error: " if self.level == "error" else ""
        return f"{self.file}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class ConfigDifference:
    """A value keepalived runs that is not what the file says, and keepalived's reason.

    ``written`` is the text of the file (None: not written, keepalived derived the value);
    ``effective`` what keepalived uses (None: the whole object is dropped). The model's fields
    hold the effective value; this keeps the written one next to it.
    """

    subject: str  # "vrrp_instance VI_1", "virtual_server 10.0.0.1:80 real_server 10.0.0.2:8080"
    field: str  # "lb_kind", "port", "state"... ("" for the whole object)
    written: str | None
    effective: str | None
    reason: str
    file: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "field": self.field,
            "written": self.written,
            "effective": self.effective,
            "reason": self.reason,
            "file": self.file,
            "line": self.line,
        }

    def __str__(self) -> str:
        what = f"{self.subject} {self.field}".strip()
        now = "dropped" if self.effective is None else self.effective
        was = "(not written)" if self.written is None else self.written
        return f"{self.file}:{self.line}: {what}: {was} -> {now} ({self.reason})"


@dataclass(frozen=True, slots=True)
class Statement:
    """A raw statement: its words, where it was written and its ``{ }`` block if any.

    Unknown keywords are kept this way (``extra`` of the block they were in), so nothing
    written in the config is lost even when lvstop does not model it.
    """

    words: tuple[str, ...]
    where: Where = NOWHERE
    block: tuple[Statement, ...] | None = None

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"words": list(self.words), "line": self.where.line}
        if self.block is not None:
            out["block"] = [s.to_dict() for s in self.block]
        return out


@dataclass(frozen=True, slots=True)
class VirtualIp:
    """One ``virtual_ipaddress`` line: ``address`` is normalised ``ADDR/PREFIX``."""

    address: str
    device: str | None = None
    label: str | None = None
    scope: str | None = None
    where: Where = NOWHERE

    @property
    def ip(self) -> str:
        """The address without its prefix (``10.0.5.96``)."""
        return self.address.split("/", 1)[0]

    @property
    def prefix(self) -> int:
        return int(self.address.split("/", 1)[1])


@dataclass(frozen=True, slots=True)
class HostInterface:
    """An interface of the host keepalived starts on, as far as its start depends on it."""

    name: str
    up: bool = True
    #: "inet": has an IPv4 address; "inet6": has an IPv6 link-local one (keepalived's sources)
    families: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class IpRoute:
    """A route or rule line keepalived keeps (``static_routes`` / ``virtual_routes``,
    ``static_rules`` / ``virtual_rules``), as written; lines it drops are not here (a warning
    says why)."""

    text: str
    #: routes: whether keepalived tracks it (it cannot without a ``dev``); rules: None
    tracked: bool | None = None
    #: rules: the preference keepalived installs it with (its own numbering when not written)
    preference: int | None = None
    where: Where = NOWHERE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "line": self.where.line}
        if self.tracked is not None:
            out["tracked"] = self.tracked
        if self.preference is not None:
            out["preference"] = self.preference
        return out


@dataclass(frozen=True, slots=True)
class Tracked:
    """A ``track_script`` / ``track_interface`` entry and its weight (None: not written)."""

    name: str
    weight: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    name: str
    state: str | None = None  # "MASTER" | "BACKUP" | None (keepalived then starts as BACKUP)
    interface: str | None = None
    virtual_router_id: int | None = None
    priority: int = 100
    advert_int: float = 1.0
    version: int = 2
    auth_type: str | None = None  # "PASS" | "AH" | None
    auth_pass: str | None = None
    virtual_ipaddress: tuple[VirtualIp, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualIp, ...] = ()
    unicast_src_ip: str | None = None
    #: keepalived's other name for the advert source address (the same setting: the last wins)
    mcast_src_ip: str | None = None
    unicast_peer: tuple[str, ...] = ()
    nopreempt: bool = False
    preempt_delay: float | None = None
    track_script: tuple[Tracked, ...] = ()
    track_interface: tuple[Tracked, ...] = ()
    #: ("notify_master", "/path args"), ...
    notify: tuple[tuple[str, str], ...] = ()
    use_vmac: bool = False
    lvs_sync_daemon_interface: str | None = None
    where: Where = NOWHERE
    extra: tuple[Statement, ...] = ()
    virtual_routes: tuple[IpRoute, ...] = ()
    virtual_rules: tuple[IpRoute, ...] = ()
    #: why keepalived starts this instance in FAULT on this host (its interface missing or
    #: without an address of the instance's family); None when fine or the host is not known
    fault: str | None = None

    @property
    def family(self) -> str:
        first = self.virtual_ipaddress[0].ip if self.virtual_ipaddress else ""
        return "inet6" if ":" in first else "inet"

    def vips(self) -> tuple[str, ...]:
        """The virtual addresses without prefixes, excluded ones included."""
        return tuple(v.ip for v in self.virtual_ipaddress + self.virtual_ipaddress_excluded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "interface": self.interface,
            "virtual_router_id": self.virtual_router_id,
            "priority": self.priority,
            "advert_int": self.advert_int,
            "version": self.version,
            "auth_type": self.auth_type,
            "virtual_ipaddress": [v.address for v in self.virtual_ipaddress],
            "virtual_ipaddress_excluded": [v.address for v in self.virtual_ipaddress_excluded],
            "unicast_src_ip": self.unicast_src_ip,
            "mcast_src_ip": self.mcast_src_ip,
            "unicast_peer": list(self.unicast_peer),
            "nopreempt": self.nopreempt,
            "preempt_delay": self.preempt_delay,
            "track_script": [t.to_dict() for t in self.track_script],
            "track_interface": [t.to_dict() for t in self.track_interface],
            "notify": {kind: script for kind, script in self.notify},
            "virtual_routes": [r.to_dict() for r in self.virtual_routes],
            "virtual_rules": [r.to_dict() for r in self.virtual_rules],
            "fault": self.fault,
            "file": self.where.file,
            "line": self.where.line,
        }


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    name: str
    instances: tuple[str, ...] = ()
    notify: tuple[tuple[str, str], ...] = ()
    where: Where = NOWHERE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instances": list(self.instances),
            "notify": {kind: script for kind, script in self.notify},
        }


@dataclass(frozen=True, slots=True)
class VrrpScript:
    name: str
    script: str | None = None
    interval: float | None = None
    timeout: float | None = None
    weight: int | None = None
    rise: int | None = None
    fall: int | None = None
    where: Where = NOWHERE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "script": self.script,
            "interval": self.interval,
            "timeout": self.timeout,
            "weight": self.weight,
            "rise": self.rise,
            "fall": self.fall,
        }


@dataclass(frozen=True, slots=True)
class UrlCheck:
    path: str | None = None
    digest: str | None = None
    status_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "digest": self.digest, "status_code": self.status_code}


@dataclass(frozen=True, slots=True)
class Check:
    """One health checker of a real server (``TCP_CHECK``, ``HTTP_GET``, ...).

    The common parameters are typed fields; every other parameter is kept as written in
    ``params`` (``misc_path``, ``helo_name``, ``bindto``, ...). SMTP_CHECK ``host`` blocks
    are nested checks in ``hosts``.
    """

    type: str
    connect_ip: str | None = None
    connect_port: int | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    urls: tuple[UrlCheck, ...] = ()
    hosts: tuple[Check, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    where: Where = NOWHERE
    #: ``retry`` is the checker's own (else inherited from its real / virtual server, else
    #: keepalived's default for the type); True when the checker block itself set it
    retry_written: bool = False

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def describe(self) -> str:
        """``TCP_CHECK :8888`` / ``HTTP_GET /health`` / ``MISC_CHECK /usr/bin/x``: for people."""
        if self.type == "MISC_CHECK" and self.param("misc_path"):
            return f"{self.type} {self.param('misc_path')}"
        if self.urls and self.urls[0].path:
            return f"{self.type} {self.urls[0].path}"
        if self.connect_port is not None:
            return f"{self.type} :{self.connect_port}"
        return self.type

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "connect_ip": self.connect_ip,
            "connect_port": self.connect_port,
            "connect_timeout": self.connect_timeout,
            "retry": self.retry,
            "delay_before_retry": self.delay_before_retry,
        }
        if self.urls:
            out["urls"] = [u.to_dict() for u in self.urls]
        if self.hosts:
            out["hosts"] = [h.to_dict() for h in self.hosts]
        for key, value in self.params:
            out.setdefault(key, value)
        return out


@dataclass(frozen=True, slots=True)
class RealServer:
    address: str
    port: int | None  # None: not written (fwmark services); keepalived then uses 0
    weight: int = 1
    inhibit_on_failure: bool = False
    checks: tuple[Check, ...] = ()
    notify_up: str | None = None
    notify_down: str | None = None
    lb_kind: str | None = None  # per-real-server lvs_method, else the virtual server's
    where: Where = NOWHERE
    extra: tuple[Statement, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "weight": self.weight,
            "inhibit_on_failure": self.inhibit_on_failure,
            "checks": [c.to_dict() for c in self.checks],
            "file": self.where.file,
            "line": self.where.line,
        }


@dataclass(frozen=True, slots=True)
class SorryServer:
    address: str
    port: int | None
    inhibit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port}


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """One line of a ``virtual_server_group``: an address (range) and port, or a fwmark."""

    address: str | None = None
    #: the last address of ``10.0.0.3-10`` (None for a single address)
    address_last: str | None = None
    port: int | None = None
    fwmark: int | None = None

    def addresses(self) -> tuple[str, ...]:
        """Every address of the range (at most 256 for safety)."""
        import ipaddress

        if self.address is None:
            return ()
        if self.address_last is None:
            return (self.address,)
        first = ipaddress.ip_address(self.address)
        last = ipaddress.ip_address(self.address_last)
        count = min(int(last) - int(first), 255)
        return tuple(str(first + i) for i in range(count + 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "address_last": self.address_last,
            "port": self.port,
            "fwmark": self.fwmark,
        }


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    entries: tuple[GroupEntry, ...] = ()
    where: Where = NOWHERE

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "entries": [e.to_dict() for e in self.entries]}


@dataclass(frozen=True, slots=True)
class VirtualServer:
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    protocol: str = "TCP"
    lb_algo: str = "wlc"
    lb_kind: str = "NAT"
    persistence_timeout: int = 0
    persistence_granularity: str | None = None
    delay_loop: float = 60.0
    sorry_server: SorryServer | None = None
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: str | None = None
    quorum_down: str | None = None
    alpha: bool = False
    omega: bool = False
    inhibit_on_failure: bool = False
    virtualhost: str | None = None
    ip_family: str | None = None
    ops: bool = False
    real_servers: tuple[RealServer, ...] = ()
    where: Where = NOWHERE
    extra: tuple[Statement, ...] = ()

    @property
    def label(self) -> str:
        """``10.0.5.96:8888`` / ``fwmark 1`` / ``group VSG_1``: for people."""
        if self.group is not None:
            return f"group {self.group}"
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        host = f"[{self.address}]" if self.address and ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def family(self) -> str:
        if self.ip_family in ("inet", "inet6"):
            return self.ip_family
        return "inet6" if self.address and ":" in self.address else "inet"

    @property
    def forward(self) -> str:
        """The IPVS forwarding name (``route`` for DR) as lvstop.model.ipvs spells it."""
        return LB_KIND_FORWARD.get(self.lb_kind, "masq")

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "fwmark": self.fwmark,
            "group": self.group,
            "protocol": self.protocol,
            "lb_algo": self.lb_algo,
            "lb_kind": self.lb_kind,
            "persistence_timeout": self.persistence_timeout,
            "persistence_granularity": self.persistence_granularity,
            "delay_loop": self.delay_loop,
            "sorry_server": None if self.sorry_server is None else self.sorry_server.to_dict(),
            "quorum": self.quorum,
            "hysteresis": self.hysteresis,
            "alpha": self.alpha,
            "omega": self.omega,
            "inhibit_on_failure": self.inhibit_on_failure,
            "real_servers": [rs.to_dict() for rs in self.real_servers],
            "file": self.where.file,
            "line": self.where.line,
        }


@dataclass(frozen=True, slots=True)
class LvsSyncDaemon:
    interface: str
    instance: str | None = None
    syncid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"interface": self.interface, "instance": self.instance, "syncid": self.syncid}


@dataclass(frozen=True, slots=True)
class LvsTimeouts:
    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tcp": self.tcp, "tcpfin": self.tcpfin, "udp": self.udp}


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    router_id: str | None = None
    vrrp_strict: bool = False
    vrrp_version: int | None = None
    lvs_sync_daemon: LvsSyncDaemon | None = None
    lvs_timeouts: LvsTimeouts | None = None
    #: keepalived's own instance name / namespace (they change the dump file names)
    instance: str | None = None
    net_namespace: str | None = None
    data_use_instance: bool = False
    enable_script_security: bool = False
    where: Where = NOWHERE
    extra: tuple[Statement, ...] = ()

    def dump_file(self, name: str, tmp_dir: str = "/tmp") -> str:
        """Where keepalived 2.2 writes ``name`` (``keepalived.data``, ``keepalived.json``...).

        ``$TMPDIR`` (or /tmp), and with ``data_use_instance`` the namespace/instance name
        inserted before the extension (keepalived's ``open_dump_file``).
        """
        if self.data_use_instance and (self.instance or self.net_namespace):
            stem, dot, ext = name.rpartition(".")
            middle = (
                (self.net_namespace or "")
                + ("_" if self.instance and self.net_namespace else "")
                + (self.instance or "")
            )
            return f"{tmp_dir}/{stem}.{middle}{dot}{ext}"
        return f"{tmp_dir}/{name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "router_id": self.router_id,
            "vrrp_strict": self.vrrp_strict,
            "vrrp_version": self.vrrp_version,
            "lvs_sync_daemon": None
            if self.lvs_sync_daemon is None
            else self.lvs_sync_daemon.to_dict(),
            "lvs_timeouts": None if self.lvs_timeouts is None else self.lvs_timeouts.to_dict(),
            "instance": self.instance,
            "net_namespace": self.net_namespace,
            "data_use_instance": self.data_use_instance,
            "dump_files": {
                "data": self.dump_file("keepalived.data"),
                "check_data": self.dump_file("keepalived_check.data"),
                "json": self.dump_file("keepalived.json"),
            },
        }


@dataclass(frozen=True, slots=True)
class KeepalivedVersion:
    """The installed keepalived (``binary`` None: none found) and how its rules compare."""

    binary: str | None
    version: str | None = None  # "2.2.7"
    #: one line for people when lvstop's rules may not be this keepalived's; None when they are
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "binary": self.binary,
            "version": self.version,
            "rules": RULES_VERSION,
            "warning": self.warning,
        }


@dataclass(frozen=True, slots=True)
class KeepalivedConfig:
    files: tuple[str, ...] = ()
    config_id: str | None = None
    global_defs: GlobalDefs = GlobalDefs()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()
    #: top-level statements lvstop does not model (unknown keywords, ...)
    extra: tuple[Statement, ...] = ()
    static_ipaddress: tuple[VirtualIp, ...] = ()
    static_routes: tuple[IpRoute, ...] = ()
    static_rules: tuple[IpRoute, ...] = ()
    #: where keepalived runs other values than the file says (the fields above are effective)
    differences: tuple[ConfigDifference, ...] = ()
    #: the keepalived release whose rules were applied
    rules: str = RULES_VERSION

    @property
    def errors(self) -> tuple[ConfigWarning, ...]:
        """What keepalived would refuse to run with (it, or its VRRP / checker process, exits)."""
        return tuple(w for w in self.warnings if w.level == "error")

    @property
    def router_id(self) -> str | None:
        return self.global_defs.router_id

    def instance(self, name: str) -> VrrpInstance | None:
        for inst in self.vrrp_instances:
            if inst.name == name:
                return inst
        return None

    def group(self, name: str) -> VirtualServerGroup | None:
        for grp in self.virtual_server_groups:
            if grp.name == name:
                return grp
        return None

    def instance_for_vrid(self, vrid: int, family: str = "inet") -> VrrpInstance | None:
        for inst in self.vrrp_instances:
            if inst.virtual_router_id == vrid and inst.family == family:
                return inst
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``lvstop.keepalived/1`` document (``lvstop keepalived --json``)."""
        return {
            "schema": SCHEMA,
            "files": list(self.files),
            "config_id": self.config_id,
            "router_id": self.router_id,
            "global_defs": self.global_defs.to_dict(),
            "vrrp_instances": [i.to_dict() for i in self.vrrp_instances],
            "vrrp_sync_groups": [g.to_dict() for g in self.vrrp_sync_groups],
            "vrrp_scripts": [s.to_dict() for s in self.vrrp_scripts],
            "virtual_servers": [vs.to_dict() for vs in self.virtual_servers],
            "virtual_server_groups": [g.to_dict() for g in self.virtual_server_groups],
            "static_ipaddress": [v.address for v in self.static_ipaddress],
            "static_routes": [r.to_dict() for r in self.static_routes],
            "static_rules": [r.to_dict() for r in self.static_rules],
            "warnings": [w.to_dict() for w in self.warnings],
            "rules": self.rules,
            "differences": [d.to_dict() for d in self.differences],
            "errors": [w.to_dict() for w in self.errors],
        }


# ---------------------------------------------------------------------------------------------
# Runtime: keepalived's processes and its own view (data / JSON dumps)

#: keepalived's numeric VRRP states (vrrp.h) as names
VRRP_STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT", 97: "DELETED", 98: "STOP"}


@dataclass(frozen=True, slots=True)
class KeepalivedProcess:
    """One keepalived process: the parent or one of its VRRP / checker / BFD children."""

    pid: int
    ppid: int
    role: str  # "parent" | "vrrp" | "checker" | "bfd" | "unknown"
    started: float  # epoch seconds
    cmdline: tuple[str, ...] = ()
    config_path: str | None = None
    #: the network namespace inode (``net:[4026531840]``), None when unreadable
    netns: str | None = None
    #: the namespace's name under /run/netns when one matches
    netns_name: str | None = None

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.started)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "ppid": self.ppid,
            "role": self.role,
            "started": self.started,
            "cmdline": list(self.cmdline),
            "config_path": self.config_path,
            "netns": self.netns,
            "netns_name": self.netns_name,
        }


@dataclass(frozen=True, slots=True)
class DumpFile:
    """A keepalived dump file and whether it was fresh when read."""

    kind: str  # "data" | "check_data" | "json"
    path: str
    status: str  # "fresh" | "stale" | "missing" | "unreadable" | "not-requested"
    mtime: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "status": self.status,
            "mtime": self.mtime,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class InstanceState:
    """A VRRP instance as keepalived's VRRP process reports it."""

    name: str
    state: str  # MASTER / BACKUP / FAULT / INIT / STOP
    wantstate: str | None = None
    virtual_router_id: int | None = None
    interface: str | None = None
    priority: int | None = None
    effective_priority: int | None = None
    vips: tuple[str, ...] = ()  # ADDR/PREFIX, /32 or /128 added when keepalived omits it
    last_transition: float | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "wantstate": self.wantstate,
            "virtual_router_id": self.virtual_router_id,
            "interface": self.interface,
            "priority": self.priority,
            "effective_priority": self.effective_priority,
            "vips": list(self.vips),
            "last_transition": self.last_transition,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class CheckerState:
    type: str
    enabled: bool = True
    up: bool = True
    has_run: bool = False
    target: str | None = None  # the address:port it connects to, when the dump says

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "enabled": self.enabled,
            "up": self.up,
            "has_run": self.has_run,
            "target": self.target,
        }


@dataclass(frozen=True, slots=True)
class RealServerState:
    """A real server as keepalived's checker process reports it."""

    address: str
    port: int
    weight: int
    effective_weight: int | None = None
    alive: bool = True
    failed_checkers: int = 0
    inhibit_on_failure: bool = False
    #: keepalived put it in the IPVS table (``RS set``)
    in_ipvs: bool = True
    checkers: tuple[CheckerState, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "weight": self.weight,
            "effective_weight": self.effective_weight,
            "alive": self.alive,
            "failed_checkers": self.failed_checkers,
            "inhibit_on_failure": self.inhibit_on_failure,
            "in_ipvs": self.in_ipvs,
            "checkers": [c.to_dict() for c in self.checkers],
        }


@dataclass(frozen=True, slots=True)
class VirtualServerState:
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    protocol: str | None = None
    lb_algo: str | None = None
    lb_kind: str | None = None
    alive: bool = True
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: bool = True
    sorry_server: str | None = None
    real_servers: tuple[RealServerState, ...] = ()

    @property
    def label(self) -> str:
        if self.group is not None:
            return f"group {self.group}"
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        host = f"[{self.address}]" if self.address and ":" in self.address else self.address
        return f"{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "fwmark": self.fwmark,
            "group": self.group,
            "protocol": self.protocol,
            "lb_algo": self.lb_algo,
            "lb_kind": self.lb_kind,
            "alive": self.alive,
            "quorum": self.quorum,
            "hysteresis": self.hysteresis,
            "quorum_up": self.quorum_up,
            "sorry_server": self.sorry_server,
            "real_servers": [rs.to_dict() for rs in self.real_servers],
        }


@dataclass(frozen=True, slots=True)
class KeepalivedRuntime:
    """keepalived on this host: its processes and, when it was asked, its own view."""

    processes: tuple[KeepalivedProcess, ...] = ()
    taken_at: float = 0.0  # time.time() of the read
    config_path: str | None = None
    instances: tuple[InstanceState, ...] | None = None  # None: no VRRP dump read
    virtual_servers: tuple[VirtualServerState, ...] | None = None  # None: no check dump
    dumps: tuple[DumpFile, ...] = ()
    signal_numbers: tuple[tuple[str, int], ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return any(p.role == "parent" for p in self.processes)

    @property
    def parent(self) -> KeepalivedProcess | None:
        for proc in self.processes:
            if proc.role == "parent":
                return proc
        return None

    def instance(self, name: str) -> InstanceState | None:
        for inst in self.instances or ():
            if inst.name == name:
                return inst
        return None

    def to_dict(self) -> dict[str, Any]:
        parent = self.parent
        return {
            "running": self.running,
            "taken_at": self.taken_at,
            "uptime": None if parent is None else parent.uptime(self.taken_at),
            "config_path": self.config_path,
            "processes": [p.to_dict() for p in self.processes],
            "signals": dict(self.signal_numbers),
            "dumps": [d.to_dict() for d in self.dumps],
            "instances": None if self.instances is None else [i.to_dict() for i in self.instances],
            "virtual_servers": None
            if self.virtual_servers is None
            else [v.to_dict() for v in self.virtual_servers],
            "problems": list(self.problems),
        }
