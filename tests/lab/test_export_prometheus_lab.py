"""A real Prometheus (Debian's ``prometheus``) scraping ``lvstop export`` on both directors.

``lvstop export`` runs in d1 and d2 with every source (IPVS, VRRP from the wire, keepalived),
listening on the director's lab address (10.0.5.90 / 10.0.5.93, inside the VM only);
Prometheus runs in the client netns on its 127.0.0.1 with contrib/prometheus's alerting
rules, short scrape and evaluation intervals, and is asked through its HTTP API:

- both targets serve the series of both VIPs, each VRID's master as the wire shows it and
  keepalived's instance states; scraped again and again in steady state, neither exporter
  signals keepalived (its dump files stay unchanged);
- a failover (keepalived stopped on d2) shows in ``lvstop_vrrp_failovers_total``, in the
  master series, in ``lvstop_keepalived_running`` and, once keepalived dumps its state again
  (the dump policy allows one a minute), in d1's ``lvstop_keepalived_instance_state``;
- a VRRP cut fires ``LvsVrrpSplitBrain`` (the alerts API shows it firing), and restoring VRRP
  resolves it.

Everything waits on conditions with generous deadlines: the VM shares a loaded machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "lvstop-alerts.yml"
LOG_DIR = ROOT / ".lab" / "export-prometheus"
PORT = 9469
PROMETHEUS = "127.0.0.1:9090"
PROM_NODE = "client"
D1, D2 = "10.0.5.90", "10.0.5.93"
TARGETS = {f"{D1}:{PORT}": "d1", f"{D2}:{PORT}": "d2"}
VIP_OF_VRID = {"51": "10.0.5.96", "52": "10.0.5.97"}

CONFIG = """\
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: lvstop
    static_configs:
      - targets: [{targets}]
"""


class Cluster:
    def __init__(self, lab: LabHandle) -> None:
        self.lab = lab

    def api(self, path: str, **params: str) -> Any:
        url = f"http://{PROMETHEUS}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with self.lab.netns(PROM_NODE), urllib.request.urlopen(url, timeout=30) as reply:
            body = json.load(reply)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[tuple[str, ...], float]:
        """An instant query → {(director, *other label values sorted by name): value}."""
        out = {}
        for row in self.api("/api/v1/query", query=expr)["result"]:
            labels = dict(row["metric"])
            director = TARGETS.get(labels.pop("instance", ""), "?")
            labels.pop("job", None)
            labels.pop("__name__", None)
            key = (director, *(f"{k}={v}" for k, v in sorted(labels.items())))
            out[key] = float(row["value"][1])
        return out

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [
            a for a in self.api("/api/v1/alerts")["alerts"] if a["labels"].get("alertname") == name
        ]


def _exporter(lab: LabHandle, node: str, address: str, log: Path) -> subprocess.Popen[bytes]:
    from lvstop.lab import runtime

    argv = [
        sys.executable,
        "-m",
        "lvstop",
        "export",
        "--listen",
        f"{address}:{PORT}",
        "--interval",
        "1",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            runtime.ns_argv(node, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)


@pytest.fixture(scope="module")
def cluster(lab: LabHandle) -> Iterator[Cluster]:
    from lvstop.lab import runtime

    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus missing (Debian's prometheus package; ./dev.sh installs it)")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    lab.reset()
    procs = [
        _exporter(lab, "d1", D1, LOG_DIR / "d1-export.log"),
        _exporter(lab, "d2", D2, LOG_DIR / "d2-export.log"),
    ]
    storage = tempfile.mkdtemp(prefix="prometheus-")  # the VM's own tmpfs
    config = Path(storage) / "prometheus.yml"
    config.write_text(CONFIG.format(rules=RULES, targets=", ".join(f"'{t}'" for t in TARGETS)))
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}/data",
        f"--web.listen-address={PROMETHEUS}",
        "--log.level=warn",
    ]
    with (LOG_DIR / "prometheus.log").open("wb") as out:
        procs.append(
            subprocess.Popen(
                runtime.ns_argv(PROM_NODE, argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    c = Cluster(lab)
    try:
        lab.wait_until(
            lambda: c.query('up{job="lvstop"} == 1').keys() == {("d1",), ("d2",)},
            timeout=180,
            interval=1,
            what="Prometheus scraping both directors' exporters",
        )
        yield c
    finally:
        _stop(procs)
        shutil.rmtree(storage, ignore_errors=True)


@pytest.mark.long
def test_prometheus_has_both_directors_series_for_both_vips(cluster: Cluster) -> None:
    for vip in VIP_OF_VRID.values():

        def both(vip: str = vip) -> bool:
            rows = cluster.query(f'node_ipvs_backend_weight{{local_address="{vip}"}} > 0')
            return {key[0] for key in rows} == {"d1", "d2"} and len(rows) == 4

        cluster.lab.wait_until(
            both,
            timeout=120,
            interval=1,
            what=f"both directors' real servers of {vip} in Prometheus",
        )
    # each VRID's master, as the wire shows it, seen from both directors
    want = {
        (d, "family=inet", "interface=eth0", f"master={m}", f"vrid={v}")
        for d in ("d1", "d2")
        for v, m in (("51", D1), ("52", D2))
    }
    cluster.lab.wait_until(
        lambda: set(cluster.query("lvstop_vrrp_master == 1")) == want,
        timeout=120,
        interval=1,
        what="both VRIDs' masters from both sides",
    )
    assert set(cluster.query("lvstop_vrrp_split_brain == 0")) == {
        (d, "family=inet", "interface=eth0", f"vrid={v}")
        for d in ("d1", "d2")
        for v in ("51", "52")
    }
    cluster.lab.wait_until(
        lambda: set(cluster.query("lvstop_keepalived_running == 1")) == {("d1",), ("d2",)},
        timeout=120,
        interval=1,
        what="keepalived running on both",
    )
    # keepalived's own view of its instances (its data dump, read when the exporter started)
    cluster.lab.wait_until(
        lambda: (
            set(cluster.query('lvstop_keepalived_instance_state{state="MASTER"} == 1'))
            == {
                ("d1", "state=MASTER", "vrid=51", "vrrp_instance=VI_1"),
                ("d2", "state=MASTER", "vrid=52", "vrrp_instance=VI_2"),
            }
        ),
        timeout=120,
        interval=1,
        what="keepalived's MASTER instances: VI_1 on d1, VI_2 on d2",
    )
    # scrapes never signal keepalived: in steady state its dumps stay as they are while
    # Prometheus scrapes both exporters again and again
    dumps = {
        (node, name): (Path(cluster.lab.node_dir(node)) / name).stat().st_mtime_ns
        for node in ("d1", "d2")
        for name in ("keepalived.data", "keepalived_check.data", "keepalived.json")
        if (Path(cluster.lab.node_dir(node)) / name).exists()
    }
    assert {node for node, _name in dumps} == {"d1", "d2"}, dumps
    scraped = cluster.query('count_over_time(up{job="lvstop"}[1h])')
    cluster.lab.wait_until(
        lambda: all(
            v >= scraped[k] + 15
            for k, v in cluster.query('count_over_time(up{job="lvstop"}[1h])').items()
        ),
        timeout=180,
        interval=1,
        what="15 more scrapes of each exporter",
    )
    after = {key: (Path(cluster.lab.node_dir(key[0])) / key[1]).stat().st_mtime_ns for key in dumps}
    assert after == dumps, "keepalived was signalled for a dump while nothing changed"
    ups = cluster.query("lvstop_source_up")
    assert ups == {
        (d, f"source={s}"): 1.0 for d in ("d1", "d2") for s in ("ipvs", "vrrp", "keepalived")
    }, ups
    # no write endpoint: the exporter answers a POST with an error and changes nothing
    with cluster.lab.netns("d1"):
        req = urllib.request.Request(f"http://{D1}:{PORT}/metrics", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 501


@pytest.mark.long
def test_failover_shows_in_prometheus(cluster: Cluster) -> None:
    lab = cluster.lab
    lab.wait_until(
        lambda: (
            cluster.query('lvstop_vrrp_master{vrid="52"}').keys()
            == {
                ("d1", "family=inet", "interface=eth0", f"master={D2}", "vrid=52"),
                ("d2", "family=inet", "interface=eth0", f"master={D2}", "vrid=52"),
            }
        ),
        timeout=120,
        interval=1,
        what="d2 master of VRID 52, seen from both",
    )
    before = cluster.query('lvstop_vrrp_failovers_total{vrid="52"}')
    assert {key[0] for key in before} == {"d1", "d2"}, before
    lab.fault("keepalived-stop", node="d2")

    def failed_over() -> bool:
        now = cluster.query('lvstop_vrrp_failovers_total{vrid="52"}')
        return all(now.get(key, 0) > value for key, value in before.items())

    lab.wait_until(
        failed_over,
        timeout=120,
        interval=1,
        what="the failover of VRID 52 counted by both exporters",
    )
    lab.wait_until(
        lambda: (
            {key[0] for key in cluster.query(f'lvstop_vrrp_master{{vrid="52",master="{D1}"}} == 1')}
            == {"d1", "d2"}
        ),
        timeout=120,
        interval=1,
        what="d1 master of VRID 52 on the wire, seen from both",
    )
    gap = cluster.query('lvstop_vrrp_last_failover_gap_seconds{vrid="52"}')
    assert gap and all(0 <= seconds < 60 for seconds in gap.values()), gap
    lab.wait_until(
        lambda: cluster.query("lvstop_keepalived_running") == {("d1",): 1.0, ("d2",): 0.0},
        timeout=120,
        interval=1,
        what="keepalived stopped on d2, running on d1",
    )
    # the failover alert (no `for:`) fires from the counter's increase
    lab.wait_until(
        lambda: any(
            a["state"] == "firing" and a["labels"].get("vrid") == "52"
            for a in cluster.alerts("LvsVrrpFailover")
        ),
        timeout=120,
        interval=1,
        what="LvsVrrpFailover firing for VRID 52",
    )
    # keepalived's own state follows once it is asked again (at most once a minute, and only
    # because the VIP moving changed what the verdicts depend on)
    lab.wait_until(
        lambda: (
            cluster.query('lvstop_keepalived_instance_state{state="MASTER"} == 1').keys()
            >= {
                ("d1", "state=MASTER", "vrid=51", "vrrp_instance=VI_1"),
                ("d1", "state=MASTER", "vrid=52", "vrrp_instance=VI_2"),
            }
        ),
        timeout=200,
        interval=1,
        what="d1's keepalived MASTER of VI_2 in Prometheus",
    )


@pytest.mark.long
def test_vrrp_cut_fires_split_brain_alert_and_restore_resolves_it(cluster: Cluster) -> None:
    lab = cluster.lab
    lab.wait_until(
        lambda: not cluster.alerts("LvsVrrpSplitBrain"),
        timeout=120,
        interval=1,
        what="no split-brain alert before the cut",
    )
    lab.fault("vrrp-cut", src="d1", dst="d2")

    def firing() -> bool:
        return any(
            a["state"] == "firing" and a["labels"].get("vrid") == "51"
            for a in cluster.alerts("LvsVrrpSplitBrain")
        )

    lab.wait_until(
        firing, timeout=180, interval=1, what="LvsVrrpSplitBrain firing for VRID 51 (alerts API)"
    )
    brain = cluster.query('lvstop_vrrp_split_brain{vrid="51"} == 1')
    assert brain, "the alert fired without a split-brain series"
    lab.fault("vrrp-restore")
    lab.wait_until(
        lambda: not cluster.alerts("LvsVrrpSplitBrain"),
        timeout=180,
        interval=1,
        what="LvsVrrpSplitBrain resolved after vrrp-restore",
    )
    lab.wait_until(
        lambda: (
            set(cluster.query('lvstop_vrrp_split_brain{vrid="51"} == 0'))
            == {
                ("d1", "family=inet", "interface=eth0", "vrid=51"),
                ("d2", "family=inet", "interface=eth0", "vrid=51"),
            }
        ),
        timeout=120,
        interval=1,
        what="split brain over on both sides",
    )
    spent = cluster.query('lvstop_vrrp_split_brain_seconds_total{vrid="51"} > 0')
    assert spent, "no time in split brain counted"
