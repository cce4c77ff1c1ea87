"""The incident snapshot's `ipvsadm -Sn`-style rule dump, checked against ipvsadm itself on
tables loaded into a scratch namespace of the lab kernel."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from lvstop.tui.incident import rules_dump

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

TABLE = """\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 10.2.0.1:80 -g -w 1
-a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 0
-A -u 10.1.0.2:53 -s wlc -p 300
-a -u 10.1.0.2:53 -r 10.2.0.3:53 -i -w 5 -x 100 -y 10
-A -t 10.1.0.3:443 -s sh -b sh-port -p 60 -M 255.255.255.0
-a -t 10.1.0.3:443 -r 10.2.0.4:443 -g -w 2
-A -f 7 -s wrr
-a -f 7 -r 10.2.0.5:0 -g -w 3
-A -t [2001:db8::1]:80 -s lc
-a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -m -w 1
-A -u 10.1.0.4:5060 -s rr -o
-a -u 10.1.0.4:5060 -r 10.2.0.6:5060 -m -w 1
"""


def without_thresholds(text: str) -> list[str]:
    return sorted(re.sub(r" -[xy] \d+", "", line) for line in text.splitlines())


def test_rules_dump_matches_ipvsadm_save_and_restores(lab: LabHandle) -> None:
    from lvstop.sources.ipvs import IpvsReader

    with lab.scratch_netns() as name:
        lab.run(name, ["sh", "-c", f"printf '%s' '{TABLE}' | ipvsadm -R"])
        expected = lab.run(name, ["ipvsadm", "-Sn"]).stdout
        with lab.netns(name), IpvsReader() as reader:
            snapshot = reader.read()
    ours = rules_dump(snapshot)
    # ipvsadm -S omits thresholds: apart from them, the same lines
    assert without_thresholds(ours) == without_thresholds(expected), (
        f"ours:\n{ours}\nipvsadm -Sn:\n{expected}"
    )
    assert " -x 100 -y 10" in ours
    # and ours restores the same table, thresholds included
    with lab.scratch_netns() as other:
        lab.run(other, ["sh", "-c", f"printf '%s' '{ours}' | ipvsadm -R"])
        assert without_thresholds(lab.run(other, ["ipvsadm", "-Sn"]).stdout) == without_thresholds(
            expected
        )
        thresholds = lab.run(other, ["ipvsadm", "-Ln", "--thresholds", "-u", "10.1.0.2:53"]).stdout
        assert re.search(r"10\.2\.0\.3:53\s+100\s+10", thresholds), thresholds
