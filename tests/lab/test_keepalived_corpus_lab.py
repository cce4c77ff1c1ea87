"""keepalived 2.2.7 live as the oracle of lvstop's effective config, inside the lab: each corpus
config (tests/data/keepalived/corpus), and random but plausible configs hypothesis writes from
keepalived's keyword table (misspellings, wrong cases, out-of-range numbers, duplicate names and
lines), run under the real keepalived in a scratch netns; its ``-t`` output, its log and its
DATA dumps must say what lvstop's parser says (tests/keepalived_oracle.py). The host replays
recordings of the corpus (tests/unit/test_keepalived_corpus_oracle.py).

Every fourth corpus config runs live (the lab's inner pytest must collect what the host's
collected, so the choice is fixed, not an environment switch); record_corpus.sh runs them all.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import keepalived_oracle as ko
import keepalived_samples as ks
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvstop.lab.handle import LabHandle
from lvstop.sources.keepalived_conf import parse_file
from lvstop.sources.keepalived_state import signal_number

pytestmark = pytest.mark.lab

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
# every fourth config live (about 4 s each in UML), so a lab session stays short; all of them are
# compared on every host run through their recordings (record_corpus.sh re-records them all)
CORPUS = sorted((DATA / "corpus").glob("*.conf"))[::4]
#: what _interfaces() gives keepalived (as the recordings had)
HOST = ko.recording_host(vlan=False)


@pytest.fixture(scope="module", autouse=True)
def _modules(lab: LabHandle) -> None:
    for module in ("dummy", "ip_vs_lc", "ip_vs_sh", "8021q", "macvlan"):
        subprocess.run(["modprobe", "-d", "/tmp/mr", module], check=False, capture_output=True)


def _interfaces(lab: LabHandle, ns: str, vlan: bool) -> None:
    # as tests/data/keepalived/corpus_inside.sh gives them to the recordings (the samples: the
    # VLAN eth0.1 they name, no global IPv6 address)
    for dev in ("eth0", "eth1", "eth2", "eth3"):
        lab.run(ns, ["ip", "link", "add", dev, "type", "dummy"])
        lab.run(ns, ["ip", "link", "set", dev, "multicast", "on", "up"])
    lab.run(ns, ["ip", "addr", "add", "192.168.200.1/24", "dev", "eth0"])
    lab.run(ns, ["ip", "addr", "add", "192.168.201.1/24", "dev", "eth1"])
    if vlan:
        vlan_link = ["ip", "link", "add", "link", "eth0", "name", "eth0.1", "type", "vlan"]
        lab.run(ns, [*vlan_link, "id", "1"])
        lab.run(ns, ["ip", "link", "set", "eth0.1", "multicast", "on", "up"])
    else:
        lab.run(ns, ["ip", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad"])


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def run_keepalived(
    lab: LabHandle, conf: str, *, vlan: bool = False
) -> tuple[str, str, str | None, str | None]:
    """keepalived -t, then a start, a DATA dump and a stop: (-t output, log, data, check data)."""
    config = parse_file(conf, config_id="high")
    with lab.scratch_netns() as ns:
        _interfaces(lab, ns, vlan)
        run_dir = tempfile.mkdtemp(prefix="ka-corpus-", dir="/run")
        env = dict(os.environ, TMPDIR=run_dir)
        test = subprocess.run(
            ["ip", "netns", "exec", ns, "keepalived", "-t", "-f", conf, "-i", "high"],
            capture_output=True, text=True, errors="replace", env=env, timeout=60,
        )  # fmt: skip
        check_txt = test.stdout + test.stderr + f"rc={test.returncode}\n"
        argv = [
            "ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-f", conf, "-i", "high",
            "-p", f"{run_dir}/k.pid", "-r", f"{run_dir}/vrrp.pid", "-c", f"{run_dir}/check.pid",
        ]  # fmt: skip
        log_path = f"{run_dir}/log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        data = check_data = None
        try:
            # loaded: the VRRP child has put an instance in its first state and the checker
            # child has judged a quorum (signalling a child before it installed its handlers
            # would kill it), or keepalived gave up on the config
            def loaded() -> bool:
                text = _read(log_path) or ""
                if "Configuration file" not in text:  # not even read yet
                    return proc.poll() is not None
                # "(VI_1) Entering BACKUP STATE", or "(VI_1) entering FAULT state" (an instance
                # without an address of its family on its interface)
                vrrp_up = not config.vrrp_instances or ") entering " in text.lower()
                check_up = not config.virtual_servers or " quorum " in text
                return proc.poll() is not None or (vrrp_up and check_up)

            lab.wait_until(loaded, timeout=30, what=f"keepalived to load {conf}")
            if proc.poll() is None:
                proc.send_signal(signal_number("DATA"))
                wanted = []
                if config.vrrp_instances:
                    wanted.append(f"{run_dir}/keepalived.data")
                if config.virtual_servers:
                    wanted.append(f"{run_dir}/keepalived_check.data")
                lab.wait_until(
                    lambda: (
                        proc.poll() is not None
                        or all("------<" in (_read(p) or "") for p in wanted)
                    ),
                    timeout=30,
                    what=f"keepalived's dumps for {conf}",
                )
                data = _read(f"{run_dir}/keepalived.data")
                check_data = _read(f"{run_dir}/keepalived_check.data")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return check_txt, _read(log_path) or "", data, check_data


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_corpus_config_against_live_keepalived(lab: LabHandle, conf: Path) -> None:
    check_txt, log, data, check_data = run_keepalived(lab, str(conf))
    cfg = parse_file(str(conf), config_id="high", interfaces=HOST)
    assert ko.compare_all(cfg, check_txt, log, data, check_data) == []


#: keepalived's own samples live (the package's, tests/keepalived_samples.py); every third, plus
#: the routes / rules / interfaces ones; conditional_conf moves itself into a netns named "high"
#: and is compared from its recording only (test_keepalived_conf_oracle.py)
SAMPLES = sorted(
    (
        set(ks.sample_names()[::3])
        | {"keepalived.conf.vrrp.routes", "keepalived.conf.vrrp.rules",
           "keepalived.conf.track_interface", "keepalived.conf.SMTP_CHECK"}
    )
    - {"keepalived.conf.conditional_conf"}
)  # fmt: skip


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_config_against_live_keepalived(lab: LabHandle, name: str) -> None:
    conf = str(ks.sample(name))
    check_txt, log, data, check_data = run_keepalived(lab, conf, vlan=True)
    cfg = parse_file(conf, config_id="high", interfaces=ko.recording_host(vlan=True))
    assert ko.compare_all(cfg, check_txt, log, data, check_data) == []


# -- random plausible configs from keepalived's keyword table -------------------------------------

octet = st.integers(2, 250)
word_case = st.sampled_from([str.upper, str.lower, str.title, lambda s: s])


def _maybe_wrong(value: str) -> st.SearchStrategy[str]:
    """The value, or the value in another case / misspelt (a letter dropped)."""
    return st.one_of(
        st.just(value),
        word_case.map(lambda f: f(value)),
        st.integers(0, max(len(value) - 1, 0)).map(lambda i: value[:i] + value[i + 1 :]),
    )


@st.composite
def vrrp_block(draw: st.DrawFn, index: int) -> str:
    name = draw(st.sampled_from(["VI_1", "VI_2", f"VI_{index}"]))  # duplicate names happen
    lines = [f"vrrp_instance {name} {{", "    interface eth0"]
    lines.append(f"    state {draw(st.sampled_from(['MASTER', 'BACKUP']).flatmap(_maybe_wrong))}")
    lines.append(f"    virtual_router_id {draw(st.integers(0, 260))}")
    if draw(st.booleans()):
        lines.append(f"    priority {draw(st.integers(0, 300))}")
    lines.append(f"    advert_int {draw(st.sampled_from(['1', '0', '2', '0.5', '300']))}")
    if draw(st.booleans()):
        lines.append("    nopreempt")
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["PASS", "AH"]).flatmap(_maybe_wrong))
        password = draw(st.sampled_from(["1111", "averylongpassword"]))
        lines += ["    authentication {", f"        auth_type {kind}"]
        lines += [f"        auth_pass {password}", "    }"]
    for _ in range(draw(st.integers(0, 2))):
        lines.append('    notify_master "/bin/true"')
    lines += ["    virtual_ipaddress {", f"        192.168.200.{draw(octet)}", "    }", "}"]
    return "\n".join(lines)


@st.composite
def vs_block(draw: st.DrawFn) -> str:
    port = draw(st.sampled_from(["80", "443", ""]))
    lines = [f"virtual_server 192.168.200.{draw(octet)} {port} {{".replace("  {", " {")]
    if draw(st.booleans()):
        lines.append(
            f"    lb_algo {draw(st.sampled_from(['rr', 'wlc', 'sh']).flatmap(_maybe_wrong))}"
        )
    if draw(st.booleans()):
        lines.append(
            f"    lb_kind {draw(st.sampled_from(['NAT', 'DR', 'TUN']).flatmap(_maybe_wrong))}"
        )
    if draw(st.booleans()):
        lines.append(f"    protocol {draw(st.sampled_from(['TCP', 'UDP']).flatmap(_maybe_wrong))}")
    if draw(st.booleans()):
        lines.append(f"    persistence_timeout {draw(st.sampled_from(['0', '50', '3000000']))}")
    if draw(st.booleans()):
        lines.append(f"    quorum {draw(st.integers(1, 5))}")
    for _ in range(draw(st.integers(0, 3))):
        rs_port = draw(st.sampled_from(["80", "8080", ""]))
        check = draw(st.sampled_from(["TCP_CHECK", "HTTP_GET", ""]))
        retry = draw(st.sampled_from(["retry", "nb_get_retry", "nb_get_rety"]))
        lines.append(f"    real_server 192.168.201.{draw(st.integers(2, 5))} {rs_port} {{")
        lines.append(f"        weight {draw(st.integers(-1, 3))}")
        if check == "TCP_CHECK":
            lines += ["        TCP_CHECK {", f"            {retry} 3", "        }"]
        elif check == "HTTP_GET":
            lines += ["        HTTP_GET {", "            url {", "                path /",
                      "            }", f"            {retry} 2", "        }"]  # fmt: skip
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines)


@st.composite
def config_text(draw: st.DrawFn) -> str:
    parts = ["global_defs {", "    router_id GEN"]
    if draw(st.booleans()):
        parts.append("    vrrp_strict")
    parts.append("}")
    for i in range(draw(st.integers(0, 2))):
        parts.append(draw(vrrp_block(i + 3)))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(vs_block()))
    return "\n".join(parts) + "\n"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=config_text())
def test_generated_configs_against_live_keepalived(lab: LabHandle, text: str) -> None:
    directory = tempfile.mkdtemp(prefix="ka-gen-", dir="/run")
    conf = os.path.join(directory, "keepalived.conf")
    with open(conf, "w") as handle:
        handle.write(text)
    check_txt, log, data, check_data = run_keepalived(lab, conf)
    cfg = parse_file(conf, config_id="high", interfaces=HOST)
    assert ko.compare_all(cfg, check_txt, log, data, check_data) == [], text
