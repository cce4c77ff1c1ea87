"""The lab's declarative topology: nodes, addresses, VRRP instances, virtual services.

Everything here is pure data and text generation (no I/O), so the host's unit tests check it
and the VM builds the cluster from it. The default topology is the operators' dual-master
setup from the notes: two directors each MASTER of one VIP and BACKUP of the other, two DR
real servers behind both VIPs, a client.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

DIRECTOR = "director"
REAL_SERVER = "real-server"
CLIENT = "client"
ROGUE = "rogue"

#: keepalived's `auth_pass` for PASS authentication (the notes' value).
AUTH_PASS = "1111"


@dataclass(frozen=True)
class Node:
    """One network namespace on the lab bridge, with one interface ``eth0``."""

    name: str
    address: str
    role: str

    @property
    def interface(self) -> str:
        return "eth0"


@dataclass(frozen=True)
class VrrpInstance:
    """One VRRP instance, configured on every director that appears in ``priorities``."""

    name: str
    vrid: int
    vip: str
    master: str
    #: director name -> priority; the master's is the highest.
    priorities: tuple[tuple[str, int], ...]
    advert_int: int = 1

    def priority_of(self, director: str) -> int | None:
        return dict(self.priorities).get(director)


@dataclass(frozen=True)
class VirtualService:
    """An IPVS virtual service on every director, forwarding to the real servers."""

    vip: str
    port: int
    real_servers: tuple[str, ...]
    lb_algo: str = "rr"
    lb_kind: str = "DR"
    protocol: str = "TCP"


@dataclass(frozen=True)
class Topology:
    network: str
    nodes: tuple[Node, ...]
    vrrp: tuple[VrrpInstance, ...]
    services: tuple[VirtualService, ...]
    bridge: str = "br0"
    http_port: int = 8888
    #: TCP_CHECK timing: short so a stopped real server leaves the table within ~3 s.
    delay_loop: int = 1
    connect_timeout: int = 1
    retry: int = 1
    delay_before_retry: int = 1
    extra_global_defs: tuple[str, ...] = field(default=())

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.network).prefixlen

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise KeyError(f"no lab node {name!r} (nodes: {known})")

    def by_role(self, role: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == role)

    @property
    def directors(self) -> tuple[Node, ...]:
        return self.by_role(DIRECTOR)

    @property
    def real_servers(self) -> tuple[Node, ...]:
        return self.by_role(REAL_SERVER)

    @property
    def vips(self) -> tuple[str, ...]:
        return tuple(inst.vip for inst in self.vrrp)

    def address_of(self, name: str) -> str:
        return self.node(name).address

    def contains(self, address: str) -> bool:
        """True when ``address`` lies in the lab network (the only place load may go)."""
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(self.network)
        except ValueError:
            return False


def default_topology() -> Topology:
    """The dual-master cluster of issue 2 (addresses from the operators' notes)."""
    nodes = (
        Node("d1", "10.0.5.90", DIRECTOR),
        Node("d2", "10.0.5.93", DIRECTOR),
        Node("rs1", "10.0.5.91", REAL_SERVER),
        Node("rs2", "10.0.5.92", REAL_SERVER),
        Node("client", "10.0.5.100", CLIENT),
    )
    vrrp = (
        VrrpInstance("VI_1", 51, "10.0.5.96", "d1", (("d1", 100), ("d2", 10))),
        VrrpInstance("VI_2", 52, "10.0.5.97", "d2", (("d2", 101), ("d1", 11))),
    )
    rs = ("rs1", "rs2")
    services = (VirtualService("10.0.5.96", 8888, rs), VirtualService("10.0.5.97", 8888, rs))
    return Topology("10.0.5.0/24", nodes, vrrp, services)


#: The rogue router of the `rogue-start` fault: a third keepalived claiming VRID 51 with a
#: different VIP, which is what a VRID clash between two clusters on one LAN looks like.
ROGUE_NODE = Node("rogue", "10.0.5.99", ROGUE)
ROGUE_VRID = 51
ROGUE_VIP = "10.0.5.98"
ROGUE_PRIORITY = 150


def rogue_instance(priority: int = ROGUE_PRIORITY) -> VrrpInstance:
    return VrrpInstance(
        "VI_ROGUE", ROGUE_VRID, ROGUE_VIP, ROGUE_NODE.name, ((ROGUE_NODE.name, priority),)
    )


def _global_defs(topo: Topology, router_id: str) -> list[str]:
    lines = [
        "global_defs {",
        f"    router_id {router_id}",
        "    vrrp_skip_check_adv_addr",
        "    vrrp_garp_master_delay 1",
        "    vrrp_garp_master_repeat 1",
    ]
    lines += [f"    {extra}" for extra in topo.extra_global_defs]
    lines.append("}")
    return lines


def _vrrp_block(topo: Topology, node: Node, inst: VrrpInstance) -> list[str]:
    priority = inst.priority_of(node.name)
    assert priority is not None
    state = "MASTER" if inst.master == node.name else "BACKUP"
    return [
        f"vrrp_instance {inst.name} {{",
        f"    state {state}",
        f"    interface {node.interface}",
        f"    virtual_router_id {inst.vrid}",
        f"    priority {priority}",
        f"    advert_int {inst.advert_int}",
        "    authentication {",
        "        auth_type PASS",
        f"        auth_pass {AUTH_PASS}",
        "    }",
        "    virtual_ipaddress {",
        f"        {inst.vip}/{topo.prefixlen}",
        "    }",
        "}",
    ]


def _service_block(topo: Topology, svc: VirtualService) -> list[str]:
    lines = [
        f"virtual_server {svc.vip} {svc.port} {{",
        f"    delay_loop {topo.delay_loop}",
        f"    lb_algo {svc.lb_algo}",
        f"    lb_kind {svc.lb_kind}",
        f"    protocol {svc.protocol}",
    ]
    for rs_name in svc.real_servers:
        lines += [
            "",
            f"    real_server {topo.address_of(rs_name)} {svc.port} {{",
            "        weight 1",
            "        TCP_CHECK {",
            f"            connect_port {svc.port}",
            f"            connect_timeout {topo.connect_timeout}",
            f"            retry {topo.retry}",
            f"            delay_before_retry {topo.delay_before_retry}",
            "        }",
            "    }",
        ]
    lines.append("}")
    return lines


def keepalived_config(topo: Topology, director: str) -> str:
    """keepalived.conf for one director: its VRRP instances and every virtual service."""
    node = topo.node(director)
    if node.role != DIRECTOR:
        raise ValueError(f"{director} is not a director")
    lines = [f"! keepalived.conf for lab director {director} (generated by lvstop.lab)", ""]
    lines += _global_defs(topo, director)
    for inst in topo.vrrp:
        if inst.priority_of(director) is not None:
            lines.append("")
            lines += _vrrp_block(topo, node, inst)
    for svc in topo.services:
        lines.append("")
        lines += _service_block(topo, svc)
    return "\n".join(lines) + "\n"


def rogue_config(topo: Topology, priority: int = ROGUE_PRIORITY) -> str:
    """keepalived.conf for the rogue router: VRID 51, same auth, a different VIP."""
    lines = ["! keepalived.conf for the lab's rogue router (VRID conflict)", ""]
    lines += _global_defs(topo, ROGUE_NODE.name)
    lines.append("")
    lines += _vrrp_block(topo, ROGUE_NODE, rogue_instance(priority))
    return "\n".join(lines) + "\n"
