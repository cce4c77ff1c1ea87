"""Hypothesis: generated configurations survive render -> parse unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvstop.model.keepalived import Statement
from lvstop.sources.keepalived_conf import parse_file, render, statements

# words keepalived can carry: plain, and ones that must be quoted (spaces, comment chars,
# braces); a double quote cannot appear inside a word in keepalived's syntax at all.
plain = st.text("abcdefghijklmnopqrstuvwxyz0123456789_./:-", min_size=1, max_size=12)
quoted = st.text("abc xyz#!{}$@~/-", min_size=1, max_size=12).filter(lambda w: w.strip())
word = st.one_of(plain, plain, quoted)
keyword = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).filter(
    lambda w: not w.startswith("include")
)


def statements_strategy(depth: int) -> st.SearchStrategy[list[Statement]]:
    leaf = st.builds(lambda k, ws: Statement((k, *ws)), keyword, st.lists(word, max_size=4))
    if depth == 0:
        return st.lists(leaf, max_size=4)
    block = st.builds(
        lambda k, ws, b: Statement((k, *ws), block=tuple(b)),
        keyword,
        st.lists(word, max_size=2),
        statements_strategy(depth - 1),
    )
    return st.lists(st.one_of(leaf, block), max_size=4)


def strip_where(items: Sequence[Statement]) -> list[tuple[Any, ...]]:
    out = []
    for s in items:
        out.append((s.words, None if s.block is None else strip_where(s.block)))
    return out


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements_strategy(3))
def test_statement_trees_round_trip(tmp_path: Path, tree: list[Statement]) -> None:
    path = tmp_path / "k.conf"
    path.write_text(render(tree) + "\n")
    assert strip_where(statements(str(path), config_id="x")) == strip_where(tree)


octet = st.integers(1, 254)
ipv4 = st.builds(lambda a, b, c: f"10.{a}.{b}.{c}", octet, octet, octet)
real_server = st.fixed_dictionaries(
    {
        "address": ipv4,
        "port": st.integers(1, 65535),
        # weight 0 on every real server would make keepalived lower the quorum
        "weight": st.integers(1, 100),
        "inhibit": st.booleans(),
        "check": st.sampled_from(["TCP_CHECK", "HTTP_GET", "MISC_CHECK", None]),
        "connect_port": st.integers(1, 65535),
    }
)
virtual_server = st.fixed_dictionaries(
    {
        "address": ipv4,
        "port": st.integers(1, 65535),
        "lb_algo": st.sampled_from(["rr", "wrr", "lc", "wlc", "sh"]),
        "lb_kind": st.sampled_from(["NAT", "DR", "TUN"]),
        "protocol": st.sampled_from(["TCP", "UDP"]),
        # keepalived: persistence_timeout 1..31 days (0 is invalid); a virtual server needs a
        # real server (else dropped)
        "persistence_timeout": st.integers(1, 3600),
        "real_servers": st.lists(
            real_server, min_size=1, max_size=5, unique_by=lambda r: (r["address"], r["port"])
        ),
    }
)
instance = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["MASTER", "BACKUP"]),
        "vrid": st.integers(1, 255),
        "priority": st.integers(1, 254),
        "advert_int": st.sampled_from([1.0, 2.0, 3.0]),  # VRRPv2: whole seconds (else rounded)
        "vips": st.lists(st.tuples(ipv4, st.integers(8, 32)), min_size=1, max_size=3),
        "nopreempt": st.booleans(),
    }
)


def config_text(instances: list[dict[str, Any]], servers: list[dict[str, Any]]) -> str:
    # enable_script_security: the MISC_CHECK program is run without keepalived's warning
    out = ["global_defs {", "  router_id GEN", "  enable_script_security", "}"]
    for n, inst in enumerate(instances):
        out += [
            f"vrrp_instance VI_{n} {{",
            f"  state {inst['state']}",
            "  interface eth0",
            f"  virtual_router_id {inst['vrid']}",
            f"  priority {inst['priority']}",
            f"  advert_int {inst['advert_int']}",
            "  nopreempt" if inst["nopreempt"] else "! preempt",
            "  virtual_ipaddress {",
            *[f"    {a}/{p}" for a, p in inst["vips"]],
            "  }",
            "}",
        ]
    for vs in servers:
        out += [
            f"virtual_server {vs['address']} {vs['port']} {{",
            f"  lb_algo {vs['lb_algo']}",
            f"  lb_kind {vs['lb_kind']}",
            f"  protocol {vs['protocol']}",
            f"  persistence_timeout {vs['persistence_timeout']}",
        ]
        for rs in vs["real_servers"]:
            out += [f"  real_server {rs['address']} {rs['port']} {{", f"    weight {rs['weight']}"]
            if rs["inhibit"]:
                out.append("    inhibit_on_failure")
            if rs["check"]:
                # MISC_CHECK has no connection keywords in keepalived (connect_port is unknown)
                inner = (
                    "      misc_path /bin/true"
                    if rs["check"] == "MISC_CHECK"
                    else f"      connect_port {rs['connect_port']}"
                )
                out += [f"    {rs['check']} {{", inner, "    }"]
            out.append("  }")
        out.append("}")
    return "\n".join(out) + "\n"


def runs_as_written(
    instances: list[dict[str, Any]], servers: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Only configs keepalived runs exactly as written: distinct VRIDs, nopreempt only with
    BACKUP, real servers outside NAT on the virtual server's port (keepalived's own rules)."""
    seen: set[int] = set()
    kept = []
    for inst in instances:
        if inst["vrid"] in seen:
            continue
        seen.add(inst["vrid"])
        kept.append(dict(inst, nopreempt=inst["nopreempt"] and inst["state"] == "BACKUP"))
    fixed = []
    for vs in servers:
        rss = vs["real_servers"]
        if vs["lb_kind"] != "NAT":
            rss = list({r["address"]: dict(r, port=vs["port"]) for r in rss}.values())
        fixed.append(dict(vs, real_servers=rss))
    return kept, fixed


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(instance, max_size=3), st.lists(virtual_server, max_size=3))
def test_generated_configs_give_the_model_back(
    tmp_path: Path, instances: list[dict[str, Any]], servers: list[dict[str, Any]]
) -> None:
    instances, servers = runs_as_written(instances, servers)
    path = tmp_path / "k.conf"
    path.write_text(config_text(instances, servers))
    cfg = parse_file(str(path), config_id="x")
    assert not cfg.warnings
    assert not cfg.differences
    assert cfg.router_id == "GEN"
    for inst, got in zip(instances, cfg.vrrp_instances, strict=True):
        assert (got.state, got.virtual_router_id, got.priority, got.advert_int) == (
            inst["state"],
            inst["vrid"],
            inst["priority"],
            inst["advert_int"],
        )
        assert got.nopreempt == inst["nopreempt"]
        assert [v.address for v in got.virtual_ipaddress] == [f"{a}/{p}" for a, p in inst["vips"]]
    for vs, got_vs in zip(servers, cfg.virtual_servers, strict=True):
        d = got_vs.to_dict()
        for key in ("address", "port", "lb_algo", "lb_kind", "protocol", "persistence_timeout"):
            assert d[key] == vs[key]
        for rs, got_rs in zip(vs["real_servers"], got_vs.real_servers, strict=True):
            assert (got_rs.address, got_rs.port, got_rs.weight) == (
                rs["address"],
                rs["port"],
                rs["weight"],
            )
            assert got_rs.inhibit_on_failure == rs["inhibit"]
            if rs["check"]:
                assert got_rs.checks[0].type == rs["check"]
                if rs["check"] != "MISC_CHECK":
                    assert got_rs.checks[0].connect_port == rs["connect_port"]
            else:
                assert got_rs.checks == ()
