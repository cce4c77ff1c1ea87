"""Everything ``lvstop doctor`` looks at, read once into a frozen ``Facts``.

Sysctls come from /proc/sys files and addresses from netlink (pyroute2), never from running
``ip`` or ``sysctl``; the only program run is ``keepalived -t`` (a config check) when keepalived
is installed. Tests build ``Facts`` directly from values recorded in the lab.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from lvstop.errors import LvstopError
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.keepalived import KeepalivedConfig, KeepalivedProcess
from lvstop.model.vrrp import Advert


@dataclass(frozen=True, slots=True)
class Address:
    device: str
    address: str
    prefixlen: int
    kind: str  # link kind: "loopback", "dummy", "veth", "" (plain ethernet) ...

    @property
    def host_route(self) -> bool:
        return self.prefixlen == (128 if ":" in self.address else 32)


@dataclass(frozen=True, slots=True)
class HeardAdvert:
    interface: str | None
    src: str
    family: str
    vrid: int
    priority: int | None
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    role: str  # "director" | "real-server" | "both"
    config: KeepalivedConfig | None = None
    config_error: str | None = None
    peer_config: KeepalivedConfig | None = None
    #: /proc/sys/<path> -> value ("net/ipv4/ip_forward": "1"); absent: unreadable
    sysctls: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[Address, ...] = ()
    ipvs_present: bool = False
    ipvs: IpvsSnapshot | None = None
    ipvs_error: str | None = None
    processes: tuple[KeepalivedProcess, ...] = ()
    #: (return code, first line of output) of ``keepalived -t``; None: keepalived not installed
    keepalived_test: tuple[int, str] | None = None
    #: adverts heard while listening; None: did not listen
    adverts: tuple[HeardAdvert, ...] | None = None
    listen_error: str | None = None
    #: VIPs to check on a real server (from --config, else /32s found on lo / dummy devices)
    vips: tuple[str, ...] = ()

    def sysctl(self, path: str) -> int | None:
        value = self.sysctls.get(path)
        if value is None:
            return None
        try:
            return int(value.split()[0])
        except (ValueError, IndexError):
            return None

    def local_addresses(self) -> set[str]:
        return {a.address for a in self.addresses}


SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/vs/expire_nodest_conn",
    "net/ipv4/vs/expire_quiescent_template",
    "net/ipv4/vs/conntrack",
)
PER_DEVICE = ("arp_ignore", "arp_announce", "rp_filter")


def read_sysctls(devices: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    paths = list(SYSCTLS)
    for dev in ["all", "default", *devices]:
        paths.extend(f"net/ipv4/conf/{dev}/{name}" for name in PER_DEVICE)
    for path in paths:
        try:
            with open(f"/proc/sys/{path}") as handle:
                out[path] = handle.read().strip()
        except OSError:
            continue
    return out


def read_addresses() -> tuple[Address, ...]:
    """Every address of this network namespace with its device and the device's kind."""
    from pyroute2 import IPRoute

    out: list[Address] = []
    with IPRoute() as ipr:
        names: dict[int, tuple[str, str]] = {}
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME") or f"if{link['index']}"
            kind = ""
            info = link.get_attr("IFLA_LINKINFO")
            if info is not None:
                kind = info.get_attr("IFLA_INFO_KIND") or ""
            if name == "lo":
                kind = "loopback"
            names[int(link["index"])] = (name, kind)
        for msg in ipr.get_addr():
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if not address:
                continue
            name, kind = names.get(int(msg["index"]), (f"if{msg['index']}", ""))
            out.append(Address(name, address, int(msg["prefixlen"]), kind))
    return tuple(out)


def keepalived_test(path: str, config_id: str | None) -> tuple[int, str] | None:
    """``keepalived -t`` by the installed keepalived: root-owned, on root's PATH (never $PATH,
    never a running process's executable)."""
    from lvstop.sources.keepalived_state import ROOT_PATH, installed_keepalived

    installed = installed_keepalived()
    if installed is None:
        return None
    argv = [installed[0], "-t", "-f", path]
    if config_id:
        argv += ["-i", config_id]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={"PATH": ":".join(ROOT_PATH), "LANG": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return (-1, f"keepalived -t did not finish: {exc}")
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    # keepalived prefixes config errors with "(file: Line N)"; the first is the one to show
    first = next((ln for ln in lines if "Line" in ln), lines[0] if lines else "")
    return (proc.returncode, first)


class Listener:
    """VRRP adverts heard from the moment it is made: the capture's ring keeps the packets
    while doctor does other work (``keepalived -t``), so the listening window starts first.
    It only listens: it never sends a packet."""

    def __init__(self, interfaces: list[str] | None) -> None:
        from lvstop.sources.vrrp_capture import VrrpCapture

        self.heard: list[HeardAdvert] = []
        self.capture = VrrpCapture(interfaces, self._on_advert)
        self.capture.open()
        self.started = time.monotonic()

    def _on_advert(self, adv: Advert) -> None:
        if adv.vrid is None or not adv.valid:
            return
        self.heard.append(
            HeardAdvert(
                interface=adv.interface,
                src=str(adv.src),
                family=str(adv.family),
                vrid=adv.vrid,
                priority=adv.priority,
                addresses=tuple(adv.addresses),
            )
        )

    def finish(self, seconds: float) -> tuple[HeardAdvert, ...]:
        """The adverts of the ``seconds`` since it was made (waiting for the rest of them)."""
        try:
            while True:
                self.capture.drain()
                left = seconds - (time.monotonic() - self.started)
                if left <= 0:
                    break
                time.sleep(min(left, 0.1))
        finally:
            self.capture.close()
        return tuple(self.heard)


def listen(seconds: float, interfaces: list[str] | None) -> tuple[HeardAdvert, ...]:
    return Listener(interfaces).finish(seconds)


def gather(
    *,
    config_path: str | None,
    peer_config_path: str | None,
    config_id: str | None,
    role: str = "auto",
    listen_seconds: float = 3.5,
) -> Facts:
    from lvstop.sources import keepalived_conf, keepalived_state

    processes = keepalived_state.own_netns_processes(keepalived_state.find_processes())
    parent = next((p for p in processes if p.role == "parent"), None)
    path = config_path
    if path is None:
        if parent is not None and parent.config_path:
            path = parent.config_path
        elif os.path.exists(keepalived_conf.DEFAULT_CONFIG):
            path = keepalived_conf.DEFAULT_CONFIG
    config = None
    config_error = None
    if path is not None:
        try:
            config = keepalived_conf.parse_file(path, config_id=config_id)
        except LvstopError as exc:
            config_error = str(exc)
    peer = None
    if peer_config_path is not None:
        peer = keepalived_conf.parse_file(peer_config_path, config_id=config_id)

    ipvs_present = os.path.exists("/proc/thread-self/net/ip_vs")
    ipvs = None
    ipvs_error = None
    if ipvs_present:
        try:
            from lvstop.sources.ipvs import read_snapshot

            ipvs = read_snapshot()
        except (LvstopError, OSError) as exc:
            ipvs_error = str(exc)

    try:
        addresses = read_addresses()
    except Exception as exc:  # pyroute2 raises its own types; the check says what failed
        raise LvstopError(f"cannot read this host's addresses: {exc}") from None
    devices = sorted({a.device for a in addresses})

    director = bool(parent is not None or (ipvs is not None and ipvs.services))
    if role == "auto":
        role = "director" if director else "real-server"

    vips: tuple[str, ...] = ()
    if role in ("real-server", "both"):
        if config is not None and config.vrrp_instances:
            vips = tuple(
                dict.fromkeys(v.ip for i in config.vrrp_instances for v in i.virtual_ipaddress)
            )
        else:
            vips = tuple(
                a.address
                for a in addresses
                if a.kind in ("loopback", "dummy")
                and a.host_route
                and not a.address.startswith("127.")
                and a.address != "::1"
            )

    ka_test = None
    adverts = None
    listen_error = None
    if role in ("director", "both") and config is not None and path is not None:
        listener = None
        if listen_seconds > 0 and config.vrrp_instances:
            ifaces = sorted({i.interface for i in config.vrrp_instances if i.interface})
            try:
                # listening first: a rogue router is heard only until it yields to ours, and
                # keepalived -t takes seconds on a busy host
                listener = Listener([i for i in ifaces if i in devices] or None)
            except LvstopError as exc:
                listen_error = str(exc)
        ka_test = keepalived_test(path, config_id)
        if listener is not None:
            adverts = listener.finish(listen_seconds)
    if config is not None and path is not None and config_path is None:
        # this host's config judged on this host's interfaces, as keepalived loads it; read
        # again only now so that nothing delays the listening window above (a rogue router is
        # heard only until it yields to ours)
        with contextlib.suppress(LvstopError):  # changed meanwhile: the first reading stands
            config = keepalived_conf.parse_file(
                path, config_id=config_id, interfaces=keepalived_conf.host_interfaces()
            )
    return Facts(
        role=role,
        config=config,
        config_error=config_error,
        peer_config=peer,
        sysctls=read_sysctls(devices),
        addresses=addresses,
        ipvs_present=ipvs_present,
        ipvs=ipvs,
        ipvs_error=ipvs_error,
        processes=processes,
        keepalived_test=ka_test,
        adverts=adverts,
        listen_error=listen_error,
        vips=vips,
    )
