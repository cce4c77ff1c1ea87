"""keepalived's configuration as frozen dataclasses, and the ``lvstop.keepalived/1`` JSON form.

Built by ``lvstop.sources.keepalived_conf`` (never by executing anything from the config);
read by ``lvstop keepalived``, the drift tracker (``lvstop.track.drift``) and ``lvstop doctor``.
``KeepalivedConfig.to_dict()`` *is* the ``lvstop keepalived --json`` schema: keys may be added,
none renamed. Each class's JSON is its fields (``lvstop.model.jsonform``): its ``JSON`` form
names only the renames, conversions and exclusions.

Every object remembers where it was written (``file``, ``line``) so a verdict can point at the
line to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from lvstop.model.jsonform import JsonForm, JsonModel, plain, where_keys

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

#: why the ``extra`` statements are not in the JSON
NOT_MODELLED = (
    "statements lvstop does not model, kept as written: they may hold secrets (an SSL "
    "password); the config file is the place to read them"
)


def _addresses(vips: Iterable[VirtualIp]) -> list[str]:
    """``virtual_ipaddress`` in the JSON: ADDR/PREFIX each (the contract since /1)."""
    return [vip.address for vip in vips]


def _first_of_each(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A checker's other parameters under their keywords; the first written wins."""
    out: dict[str, str] = {}
    for key, value in params:
        out.setdefault(key, value)
    return out


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the configuration: the file (absolute path) and its 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Where("", 0)


@dataclass(frozen=True, slots=True)
class ConfigWarning(JsonModel):
    """Something keepalived would complain about or ignore, never fatal."""

    file: str
    line: int
    message: str
    #: "warning": keepalived runs anyway; "error": keepalived (or its VRRP / checker process)
    #: would refuse this config and exit
    level: str = "warning"

    def __str__(self) -> str:
        prefix = "error: " if self.level == "error" else ""
        return f"{self.file}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class ConfigDifference(JsonModel):
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

    def __str__(self) -> str:
        what = f"{self.subject} {self.field}".strip()
        now = "dropped" if self.effective is None else self.effective
        was = "(not written)" if self.written is None else self.written
        return f"{self.file}:{self.line}: {what}: {was} -> {now} ({self.reason})"


@dataclass(frozen=True, slots=True)
class Statement(JsonModel):
    """A raw statement: its words, where it was written and its ``{ }`` block if any.

    Unknown keywords are kept this way (``extra`` of the block they were in), so nothing
    written in the config is lost even when lvstop does not model it.
    """

    words: tuple[str, ...]
    where: Where = NOWHERE
    block: tuple[Statement, ...] | None = None

    JSON: ClassVar[JsonForm] = JsonForm(
        spread={"where": where_keys}, when={"block": lambda s: s.block is not None}
    )

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]


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
class IpRoute(JsonModel):
    """A route or rule line keepalived keeps (``static_routes`` / ``virtual_routes``,
    ``static_rules`` / ``virtual_rules``), as written; lines it drops are not here (a warning
    says why)."""

    text: str
    #: routes: whether keepalived tracks it (it cannot without a ``dev``); rules: None
    tracked: bool | None = None
    #: rules: the preference keepalived installs it with (its own numbering when not written)
    preference: int | None = None
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(
        when={
            "tracked": lambda r: r.tracked is not None,
            "preference": lambda r: r.preference is not None,
        },
        spread={"where": lambda where: {"line": where.line}},
    )


@dataclass(frozen=True, slots=True)
class Tracked(JsonModel):
    """A ``track_script`` / ``track_interface`` entry and its weight (None: not written)."""

    name: str
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class VrrpInstance(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        convert={
            "virtual_ipaddress": _addresses,
            "virtual_ipaddress_excluded": _addresses,
            "notify": dict,
        },
        spread={"where": where_keys},
        exclude={
            "auth_pass": "the VRRP password: never printed (lvstop vrrp masks it too)",
            "extra": NOT_MODELLED,
        },
    )

    @property
    def family(self) -> str:
        first = self.virtual_ipaddress[0].ip if self.virtual_ipaddress else ""
        return "inet6" if ":" in first else "inet"

    def vips(self) -> tuple[str, ...]:
        """The virtual addresses without prefixes, excluded ones included."""
        return tuple(v.ip for v in self.virtual_ipaddress + self.virtual_ipaddress_excluded)


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup(JsonModel):
    name: str
    instances: tuple[str, ...] = ()
    notify: tuple[tuple[str, str], ...] = ()
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(convert={"notify": dict}, spread={"where": where_keys})


@dataclass(frozen=True, slots=True)
class VrrpScript(JsonModel):
    name: str
    script: str | None = None
    interval: float | None = None
    timeout: float | None = None
    weight: int | None = None
    rise: int | None = None
    fall: int | None = None
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(spread={"where": where_keys})


@dataclass(frozen=True, slots=True)
class UrlCheck(JsonModel):
    path: str | None = None
    digest: str | None = None
    status_code: str | None = None


@dataclass(frozen=True, slots=True)
class Check(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        when={"urls": lambda c: bool(c.urls), "hosts": lambda c: bool(c.hosts)},
        # params after file / line, each under its own keyword (the first written wins)
        spread={"where": where_keys, "params": _first_of_each},
        late=("params",),
    )

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


@dataclass(frozen=True, slots=True)
class RealServer(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        spread={"where": where_keys}, exclude={"extra": NOT_MODELLED}
    )


@dataclass(frozen=True, slots=True)
class SorryServer(JsonModel):
    address: str
    port: int | None
    inhibit: bool = False


@dataclass(frozen=True, slots=True)
class GroupEntry(JsonModel):
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


@dataclass(frozen=True, slots=True)
class VirtualServerGroup(JsonModel):
    name: str
    entries: tuple[GroupEntry, ...] = ()
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(spread={"where": where_keys})


@dataclass(frozen=True, slots=True)
class VirtualServer(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        spread={"where": where_keys}, exclude={"extra": NOT_MODELLED}
    )

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


@dataclass(frozen=True, slots=True)
class LvsSyncDaemon(JsonModel):
    interface: str
    instance: str | None = None
    syncid: int | None = None


@dataclass(frozen=True, slots=True)
class LvsTimeouts(JsonModel):
    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


@dataclass(frozen=True, slots=True)
class GlobalDefs(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        spread={"where": where_keys},
        exclude={"extra": NOT_MODELLED},
        tail={
            "dump_files": lambda g: {
                "data": g.dump_file("keepalived.data"),
                "check_data": g.dump_file("keepalived_check.data"),
                "json": g.dump_file("keepalived.json"),
            }
        },
    )

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


@dataclass(frozen=True, slots=True)
class KeepalivedVersion(JsonModel):
    """The installed keepalived (``binary`` None: none found) and how its rules compare."""

    binary: str | None
    version: str | None = None  # "2.2.7"
    #: one line for people when lvstop's rules may not be this keepalived's; None when they are
    warning: str | None = None

    JSON: ClassVar[JsonForm] = JsonForm(tail={"rules": lambda v: RULES_VERSION})


@dataclass(frozen=True, slots=True)
class KeepalivedConfig(JsonModel):
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

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"schema": lambda c: SCHEMA},
        convert={"static_ipaddress": _addresses},
        exclude={"extra": NOT_MODELLED},
        tail={"router_id": lambda c: c.router_id, "errors": lambda c: plain(c.errors)},
    )

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


# ---------------------------------------------------------------------------------------------
# Runtime: keepalived's processes and its own view (data / JSON dumps)

#: keepalived's numeric VRRP states (vrrp.h) as names
VRRP_STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT", 97: "DELETED", 98: "STOP"}


@dataclass(frozen=True, slots=True)
class KeepalivedProcess(JsonModel):
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


@dataclass(frozen=True, slots=True)
class DumpFile(JsonModel):
    """A keepalived dump file and whether it was fresh when read."""

    kind: str  # "data" | "check_data" | "json"
    path: str
    status: str  # "fresh" | "stale" | "missing" | "unreadable" | "not-requested"
    mtime: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class InstanceState(JsonModel):
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


@dataclass(frozen=True, slots=True)
class CheckerState(JsonModel):
    type: str
    enabled: bool = True
    up: bool = True
    has_run: bool = False
    target: str | None = None  # the address:port it connects to, when the dump says


@dataclass(frozen=True, slots=True)
class RealServerState(JsonModel):
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


@dataclass(frozen=True, slots=True)
class VirtualServerState(JsonModel):
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


@dataclass(frozen=True, slots=True)
class KeepalivedRuntime(JsonModel):
    """keepalived on this host: its processes and, when it was asked, its own view."""

    processes: tuple[KeepalivedProcess, ...] = ()
    taken_at: float = 0.0  # time.time() of the read
    config_path: str | None = None
    instances: tuple[InstanceState, ...] | None = None  # None: no VRRP dump read
    virtual_servers: tuple[VirtualServerState, ...] | None = None  # None: no check dump
    dumps: tuple[DumpFile, ...] = ()
    signal_numbers: tuple[tuple[str, int], ...] = ()
    problems: tuple[str, ...] = ()

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"running": lambda r: r.running},
        rename={"signal_numbers": "signals"},
        convert={"signal_numbers": dict},
        tail={"uptime": lambda r: None if r.parent is None else r.parent.uptime(r.taken_at)},
    )

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
