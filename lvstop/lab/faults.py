"""Faults users and tests inject into the running lab (inside the VM only).

``FAULTS`` maps a name to a :class:`Fault` (one-line description, parameters);
``apply(name, **params)`` does it and returns one line saying what happened. From a shell in
the lab: ``lvstop lab fault keepalived-stop node=d1``. Every fault that leaves the lab off its
healthy default is recorded (``/run/lvstop-lab/faults.json``) with the fault that undoes it, so
``LabHandle.reset()`` only undoes what was changed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lvstop.lab import runtime
from lvstop.lab.runtime import LabError
from lvstop.lab.topology import (
    CLIENT,
    DIRECTOR,
    REAL_SERVER,
    ROGUE_NODE,
    ROGUE_PRIORITY,
    Topology,
    default_topology,
    rogue_config,
)


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    default: Any
    help: str


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    params: tuple[Param, ...]
    action: Callable[[Topology, dict[str, Any]], str]

    def usage(self) -> str:
        args = " ".join(f"[{p.name}={p.default}]" for p in self.params)
        return f"{self.name} {args}".rstrip()


def _node(topo: Topology, name: str, *roles: str) -> str:
    names = [n.name for n in topo.nodes if not roles or n.role in roles]
    if name not in names:
        raise LabError(f"{name!r} is not one of {', '.join(names)}")
    return name


# --- keepalived ------------------------------------------------------------------------------


def _clear_leftovers(topo: Topology, node: str) -> None:
    """Remove VIPs and IPVS services a killed keepalived left behind, before a fresh start."""
    iface = topo.node(node).interface
    held = runtime.addresses(node, iface)
    for inst in topo.vrrp:
        if inst.vip in held and inst.priority_of(node) is not None:
            runtime.sh(
                ["ip", "-n", node, "addr", "del", f"{inst.vip}/{topo.prefixlen}", "dev", iface],
                check=False,
            )
    if runtime.ipvs_table(node):
        runtime.sh(runtime.ns_argv(node, ["ipvsadm", "-C"]), what=f"clear IPVS on {node}")


def keepalived_start(topo: Topology, p: dict[str, Any]) -> str:
    node = _node(topo, p["node"], DIRECTOR)
    pid = runtime.keepalived_main_pid(node)
    runtime.clear_fault(f"keepalived:{node}")
    if pid is not None:
        return f"keepalived on {node} already running (pid {pid})"
    _clear_leftovers(topo, node)
    pid = runtime.start_keepalived(node)
    return f"keepalived on {node} started (pid {pid})"


def keepalived_stop(topo: Topology, p: dict[str, Any]) -> str:
    node = _node(topo, p["node"], DIRECTOR)
    pids = runtime.stop_keepalived(node)
    runtime.record_fault(f"keepalived:{node}", "keepalived-start", {"node": node})
    if not pids:
        return f"keepalived on {node} was not running"
    return f"keepalived on {node} stopped (SIGTERM to pid {pids[0]}; VIPs released)"


def keepalived_kill(topo: Topology, p: dict[str, Any]) -> str:
    node = _node(topo, p["node"], DIRECTOR)
    pids = runtime.stop_keepalived(node, sig=signal.SIGKILL)
    runtime.record_fault(f"keepalived:{node}", "keepalived-start", {"node": node})
    if not pids:
        return f"keepalived on {node} was not running"
    return (
        f"keepalived on {node} killed (SIGKILL to pids {', '.join(map(str, pids))}; "
        "its VIPs and IPVS services stay behind)"
    )


# --- real servers ----------------------------------------------------------------------------


def rs_stop(topo: Topology, p: dict[str, Any]) -> str:
    node = _node(topo, p["node"], REAL_SERVER)
    pid = runtime.stop_httpd(node)
    runtime.record_fault(f"rs:{node}", "rs-start", {"node": node})
    if pid is None:
        return f"HTTP on {node} was not running"
    return f"HTTP on {node} stopped (pid {pid}); its TCP_CHECK will remove it"


def rs_start(topo: Topology, p: dict[str, Any]) -> str:
    node = _node(topo, p["node"], REAL_SERVER)
    running = runtime.httpd_running(node)
    runtime.clear_fault(f"rs:{node}")
    if running is not None:
        return f"HTTP on {node} already running (pid {running})"
    pid = runtime.start_httpd(topo, node)
    return f"HTTP on {node} started (pid {pid}); its TCP_CHECK will add it back"


# --- client load -----------------------------------------------------------------------------


def _client(topo: Topology) -> str:
    clients = topo.by_role(CLIENT)
    if not clients:
        raise LabError("the lab has no client node")
    return clients[0].name


def load_start(topo: Topology, p: dict[str, Any]) -> str:
    rate, duration = float(p["rate"]), float(p["duration"])
    if not 0 < rate <= 200:
        raise LabError(f"rate={rate:g}: give 0 < rate <= 200 requests per second")
    if not 0 < duration <= 3600:
        raise LabError(f"duration={duration:g}: give 0 < duration <= 3600 seconds")
    vips = list(topo.vips) if p["vip"] == "all" else [p["vip"]]
    for vip in vips:
        if vip not in topo.vips:
            raise LabError(f"vip={vip}: not one of {', '.join(topo.vips)} (or all)")
    client = _client(topo)
    d = runtime.node_dir(client)
    if (pid := runtime.live_pid(d / "load.pid")) is not None:
        return f"load already running on {client} (pid {pid})"
    argv = [
        sys.executable,
        "-m",
        "lvstop.lab.load",
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{duration:g}",
        "--stats",
        str(d / "load.json"),
        "--port",
        str(topo.http_port),
    ]
    for vip in vips:
        argv += ["--vip", vip]
    (d / "load.json").unlink(missing_ok=True)
    pid = runtime.spawn(client, argv, log=d / "load.log", pidfile=d / "load.pid")
    runtime.record_fault("load", "load-stop", {})
    return (
        f"client load started: {rate:g} req/s to {', '.join(vips)}:{topo.http_port} for "
        f"at most {duration:g}s (pid {pid})"
    )


def load_stop(topo: Topology, p: dict[str, Any]) -> str:
    d = runtime.node_dir(_client(topo))
    pid = runtime.live_pid(d / "load.pid")
    runtime.clear_fault("load")
    if pid is None:
        return "client load was not running"
    runtime.kill_pids([pid], signal.SIGTERM, what="stop client load")
    return f"client load stopped (pid {pid})"


# --- VRRP cut (split brain) ------------------------------------------------------------------


def _has_ingress(node: str) -> bool:
    out = runtime.sh(["tc", "-n", node, "qdisc", "show", "dev", "eth0"], check=False).stdout
    return "ingress" in out


def vrrp_cut(topo: Topology, p: dict[str, Any]) -> str:
    src = _node(topo, p["src"], DIRECTOR)
    dst = _node(topo, p["dst"], DIRECTOR)
    if src == dst:
        raise LabError("src and dst must be two different directors")
    if not _has_ingress(dst):
        runtime.sh(
            ["tc", "-n", dst, "qdisc", "add", "dev", "eth0", "ingress"],
            what=f"ingress qdisc on {dst}",
        )
    runtime.sh(
        [
            "tc",
            "-n",
            dst,
            "filter",
            "add",
            "dev",
            "eth0",
            "parent",
            "ffff:",
            "protocol",
            "ip",
            "prio",
            "1",
            "u32",
            "match",
            "ip",
            "protocol",
            "112",
            "0xff",
            "match",
            "ip",
            "src",
            f"{topo.address_of(src)}/32",
            "action",
            "drop",
        ],
        what=f"VRRP drop filter on {dst}",
    )
    runtime.record_fault(f"vrrp-cut:{dst}", "vrrp-restore", {"dst": dst})
    return (
        f"VRRP from {src} to {dst} dropped ({dst} no longer hears {src}'s adverts: "
        "split brain in about 3 s)"
    )


def vrrp_restore(topo: Topology, p: dict[str, Any]) -> str:
    targets = (
        [d.name for d in topo.directors] if p["dst"] == "all" else [_node(topo, p["dst"], DIRECTOR)]
    )
    cleared = []
    for dst in targets:
        if _has_ingress(dst):
            runtime.sh(
                ["tc", "-n", dst, "qdisc", "del", "dev", "eth0", "ingress"],
                what=f"remove VRRP drop on {dst}",
            )
            cleared.append(dst)
        runtime.clear_fault(f"vrrp-cut:{dst}")
    if not cleared:
        return "no VRRP cut was in place"
    return f"VRRP restored to {', '.join(cleared)}"


# --- netem -----------------------------------------------------------------------------------


def _netem_nodes(topo: Topology) -> list[str]:
    names = [n.name for n in topo.nodes]
    if runtime.netns_exists(ROGUE_NODE.name):
        names.append(ROGUE_NODE.name)
    return names


def netem(topo: Topology, p: dict[str, Any]) -> str:
    node = p["node"]
    if node not in _netem_nodes(topo):
        raise LabError(f"{node!r} is not one of {', '.join(_netem_nodes(topo))}")
    loss, delay, jitter = float(p["loss"]), float(p["delay"]), float(p["jitter"])
    if not 0 <= loss <= 100:
        raise LabError(f"loss={loss:g}: give a percentage 0..100")
    if not 0 <= delay <= 10000 or not 0 <= jitter <= 10000:
        raise LabError("delay and jitter are milliseconds, 0..10000")
    if loss == 0 and delay == 0:
        raise LabError("give loss=PERCENT and/or delay=MS")
    args = []
    if delay:
        args += ["delay", f"{delay:g}ms"] + ([f"{jitter:g}ms"] if jitter else [])
    if loss:
        args += ["loss", f"{loss:g}%"]
    runtime.sh(
        ["tc", "-n", node, "qdisc", "replace", "dev", "eth0", "root", "netem", *args],
        what=f"netem on {node}",
    )
    runtime.record_fault(f"netem:{node}", "netem-clear", {"node": node})
    return f"netem on {node} eth0 (outgoing): {' '.join(args)}"


def netem_clear(topo: Topology, p: dict[str, Any]) -> str:
    nodes = _netem_nodes(topo) if p["node"] == "all" else [p["node"]]
    cleared = []
    for node in nodes:
        if node not in _netem_nodes(topo):
            raise LabError(f"{node!r} is not one of {', '.join(_netem_nodes(topo))}")
        out = runtime.sh(
            ["tc", "-n", node, "qdisc", "show", "dev", "eth0", "root"], check=False
        ).stdout
        if "netem" in out:
            runtime.sh(
                ["tc", "-n", node, "qdisc", "del", "dev", "eth0", "root"],
                what=f"clear netem on {node}",
            )
            cleared.append(node)
        runtime.clear_fault(f"netem:{node}")
    return f"netem cleared on {', '.join(cleared)}" if cleared else "no netem was in place"


# --- rogue router (VRID conflict) ------------------------------------------------------------


def rogue_start(topo: Topology, p: dict[str, Any]) -> str:
    priority = int(p["priority"])
    if not 1 <= priority <= 254:
        raise LabError(f"priority={priority}: give 1..254")
    name = ROGUE_NODE.name
    if not runtime.netns_exists(name):
        runtime.add_node(topo, ROGUE_NODE)
        _deafen_to_vrrp(name)
    runtime.record_fault("rogue", "rogue-stop", {})
    if (pid := runtime.keepalived_main_pid(name)) is not None:
        return f"rogue keepalived already running on {ROGUE_NODE.address} (pid {pid})"
    runtime.write_keepalived_config(name, rogue_config(topo, priority))
    pid = runtime.start_keepalived(name)
    return (
        f"rogue keepalived on {ROGUE_NODE.address}: VRID 51 priority {priority} with VIP "
        f"10.0.5.98 (pid {pid})"
    )


def _deafen_to_vrrp(netns: str) -> None:
    """Drop VRRP arriving at the rogue, so it advertises every second. A rogue that hears d1
    stays MASTER in its own log but (seen in the lab) keeps quiet for up to 17 s at a time: each
    advert it receives and rejects for its VIP set seems to restart its advert timer, and d1's
    arrive every second too. That silence is keepalived's, not lvstop's: what is shown is a
    foreign router that is heard."""
    runtime.sh(["tc", "-n", netns, "qdisc", "add", "dev", "eth0", "ingress"], what="rogue ingress")
    runtime.sh(
        [
            "tc", "-n", netns, "filter", "add", "dev", "eth0", "parent", "ffff:",
            "protocol", "ip", "u32", "match", "ip", "protocol", "112", "0xff",
            "action", "drop",
        ],
        what="rogue drops VRRP",
    )  # fmt: skip


def rogue_stop(topo: Topology, p: dict[str, Any]) -> str:
    name = ROGUE_NODE.name
    pids = runtime.stop_keepalived(name)
    existed = runtime.netns_exists(name)
    runtime.remove_node(name)
    runtime.clear_fault("rogue")
    if not existed:
        return "no rogue router was running"
    return "rogue router stopped and removed" + (f" (pid {pids[0]})" if pids else "")


_NODE_D1 = Param("node", str, "d1", "director")

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "keepalived-stop",
            "stop keepalived on a director (SIGTERM: failover now)",
            (_NODE_D1,),
            keepalived_stop,
        ),
        Fault(
            "keepalived-start",
            "start keepalived on a director (preemption)",
            (_NODE_D1,),
            keepalived_start,
        ),
        Fault(
            "keepalived-kill",
            "kill -9 keepalived on a director (failover after ~3 s)",
            (_NODE_D1,),
            keepalived_kill,
        ),
        Fault(
            "rs-stop",
            "stop a real server's HTTP service (its TCP_CHECK removes it)",
            (Param("node", str, "rs1", "real server"),),
            rs_stop,
        ),
        Fault(
            "rs-start",
            "start a real server's HTTP service (its TCP_CHECK adds it back)",
            (Param("node", str, "rs1", "real server"),),
            rs_start,
        ),
        Fault(
            "load-start",
            "steady client HTTP load through the VIPs",
            (
                Param("rate", float, 20.0, "requests per second, all VIPs together"),
                Param("duration", float, 600.0, "stop after this many seconds"),
                Param("vip", str, "all", "one VIP, or all"),
            ),
            load_start,
        ),
        Fault("load-stop", "stop the client load", (), load_stop),
        Fault(
            "vrrp-cut",
            "drop VRRP adverts from one director to the other (split brain)",
            (
                Param("src", str, "d1", "director whose adverts are dropped"),
                Param("dst", str, "d2", "director that stops hearing them"),
            ),
            vrrp_cut,
        ),
        Fault(
            "vrrp-restore",
            "undo vrrp-cut",
            (Param("dst", str, "all", "director, or all"),),
            vrrp_restore,
        ),
        Fault(
            "netem",
            "loss and/or delay on a node's link (outgoing)",
            (
                Param("node", str, "d1", "node"),
                Param("loss", float, 0.0, "percent of packets dropped"),
                Param("delay", float, 0.0, "milliseconds added"),
                Param("jitter", float, 0.0, "milliseconds of jitter"),
            ),
            netem,
        ),
        Fault(
            "netem-clear",
            "remove netem from a node's link",
            (Param("node", str, "all", "node, or all"),),
            netem_clear,
        ),
        Fault(
            "rogue-start",
            "a third keepalived at 10.0.5.99 claiming VRID 51 with another VIP (conflict)",
            (Param("priority", int, ROGUE_PRIORITY, "its VRRP priority"),),
            rogue_start,
        ),
        Fault("rogue-stop", "stop and remove the rogue router", (), rogue_stop),
    )
}


def parse_params(fault: Fault, given: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and convert values (CLI strings included); one-line errors."""
    known = {p.name: p for p in fault.params}
    for key in given:
        if key not in known:
            names = ", ".join(known) or "none"
            raise LabError(f"{fault.name} has no parameter {key!r} (parameters: {names})")
    out: dict[str, Any] = {}
    for param in fault.params:
        value = given.get(param.name, param.default)
        try:
            out[param.name] = param.kind(value)
        except (TypeError, ValueError):
            raise LabError(
                f"{fault.name}: {param.name}={value!r} is not "
                f"{'a number' if param.kind in (int, float) else 'valid'}"
            ) from None
    return out


def apply(name: str, topo: Topology | None = None, **params: Any) -> str:
    """Inject the fault ``name`` into the running lab; return one line saying what happened."""
    fault = FAULTS.get(name)
    if fault is None:
        raise LabError(f"no lab fault {name!r} (faults: {', '.join(FAULTS)})")
    runtime.require_lab()
    topo = topo or default_topology()
    return fault.action(topo, parse_params(fault, params))


def undo_all(topo: Topology | None = None) -> list[str]:
    """Undo every recorded fault (most recent first); return what was done."""
    topo = topo or default_topology()
    done = []
    for _key, entry in reversed(list(runtime.applied_faults().items())):
        undo = str(entry.get("undo"))
        raw = entry.get("params")
        params = raw if isinstance(raw, dict) else {}
        done.append(apply(undo, topo, **params))
    return done


def describe() -> list[str]:
    """One line per fault: usage and description."""
    width = max(len(f.usage()) for f in FAULTS.values())
    return [f"{f.usage():<{width}}  {f.description}" for f in FAULTS.values()]
