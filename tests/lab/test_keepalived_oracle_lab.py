"""keepalived itself as the parser's oracle, live: every sample config runs under the real
keepalived 2.2.7 in a scratch netns of the lab (dummy interfaces eth0..eth3 and eth0.1, as the
samples name them), lvstop's runtime reader signals it for its dumps, and what keepalived parsed
must be what lvstop parsed. (tests/unit/test_keepalived_conf_oracle.py replays recordings of
the same, made by ``SET=samples tests/data/keepalived/record_corpus.sh``.)"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import keepalived_samples as ks
import pytest

from lvstop.lab.handle import LabHandle
from lvstop.model.keepalived import KeepalivedProcess
from lvstop.sources.keepalived_conf import parse_file
from lvstop.sources.keepalived_state import find_processes, read_runtime

pytestmark = pytest.mark.lab

#: keepalived's samples from the installed package (tests/keepalived_samples.py) and lvstop's
#: features config
SAMPLES = [
    ks.sample(name)
    for name in ks.sample_names()
    # keepalived.conf.conditional_conf moves itself into a netns named "high"
    if name != "keepalived.conf.conditional_conf"
] + [ks.FEATURES]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for the VM's init to reap it does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module", autouse=True)
def _modules(lab: LabHandle) -> None:
    # the lab loads veth/bridge/IPVS; the samples' interfaces need dummy and 8021q too
    for module in ("dummy", "8021q"):
        subprocess.run(["modprobe", "-d", "/tmp/mr", module], check=False, capture_output=True)


def _interfaces(lab: LabHandle, ns: str) -> None:
    for dev in ("eth0", "eth1", "eth2", "eth3"):
        lab.run(ns, ["ip", "link", "add", dev, "type", "dummy"])
        lab.run(ns, ["ip", "link", "set", dev, "multicast", "on", "up"])
    lab.run(ns, ["ip", "link", "add", "link", "eth0", "name", "eth0.1", "type", "vlan", "id", "1"])
    lab.run(ns, ["ip", "link", "set", "eth0.1", "up"])
    lab.run(ns, ["ip", "addr", "add", "192.168.200.1/24", "dev", "eth0"])
    lab.run(ns, ["ip", "addr", "add", "192.168.201.1/24", "dev", "eth1"])


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_keepalived_parses_what_lvstop_parses(lab: LabHandle, sample: Path) -> None:
    config = parse_file(str(sample), config_id="high")
    with lab.scratch_netns() as ns:
        _interfaces(lab, ns)
        run_dir = tempfile.mkdtemp(prefix="ka-oracle-", dir="/run")
        argv = [
            "ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-f", str(sample),
            "-i", "high", "-p", f"{run_dir}/k.pid", "-r", f"{run_dir}/vrrp.pid",
            "-c", f"{run_dir}/checkers.pid",
        ]  # fmt: skip
        env = dict(os.environ, TMPDIR=run_dir)
        with open(f"{run_dir}/log", "w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            want = int(bool(config.vrrp_instances)) + int(bool(config.virtual_servers))

            def ready() -> tuple[KeepalivedProcess, ...] | None:
                procs = [p for p in find_processes() if p.pid == proc.pid or p.ppid == proc.pid]
                return tuple(procs) if len(procs) >= 1 + want else None

            procs = lab.wait_until(ready, timeout=10, what=f"keepalived children for {sample}")
            time.sleep(0.5)
            rt = read_runtime(
                global_defs=config.global_defs,
                processes=procs,
                wait=3.0,
                want_vrrp=bool(config.vrrp_instances),
                want_check=bool(config.virtual_servers),
            )
        finally:
            children = [p.pid for p in find_processes() if p.ppid == proc.pid]
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            # no orphaned child may outlive the test (it would look like another keepalived)
            lab.wait_until(
                lambda: not any(_alive(pid) for pid in children),
                timeout=10,
                what="keepalived's children to exit",
            )
    assert rt.parent is not None and rt.parent.config_path == str(sample)
    if config.vrrp_instances:
        assert rt.instances is not None, rt.dumps
        seen = {i.name: i for i in rt.instances}
        assert set(seen) == {i.name for i in config.vrrp_instances}
        for inst in config.vrrp_instances:
            assert seen[inst.name].virtual_router_id == inst.virtual_router_id
            assert seen[inst.name].priority == inst.priority
            assert set(seen[inst.name].vips) == {v.address for v in inst.virtual_ipaddress}
    if config.virtual_servers:
        assert rt.virtual_servers is not None, rt.dumps
        assert [v.label for v in rt.virtual_servers] == [v.label for v in config.virtual_servers]
        for ka, vs in zip(rt.virtual_servers, config.virtual_servers, strict=True):
            assert (ka.lb_algo, ka.lb_kind) == (vs.lb_algo, vs.lb_kind)
            assert [(r.address, r.port, r.weight) for r in ka.real_servers] == [
                (r.address, r.port or 0, r.weight) for r in vs.real_servers
            ]
