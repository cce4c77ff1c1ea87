"""The dashboard's partial IPVS read against the kernel, ipvsadm the oracle: the services every
poll; the real servers of the services in focus every poll, the others' in turn within the
sweep period (a change made with ipvsadm to a service out of focus is seen within it); a
carried service's real servers are what the kernel had when they were last read."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle

from tests.lab.test_ipvs_oracle import ns_run

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

SERVICES, PER = 60, 3
SWEEP = 4.0  # seconds (the dashboard's is 10 s; shorter here to keep the test short)


def test_partial_reads_agree_with_ipvsadm_and_see_changes_within_the_sweep(lab: LabHandle) -> None:
    from lvstop.sources.ipvs import IpvsReader

    with lab.scratch_netns() as ns:
        ns_run(ns, ["ipvsadm", "-R"], stdin=ipvs_oracle.big_table(SERVICES, PER))
        with lab.netns(ns):
            reader = IpvsReader(sweep_every=SWEEP)
            full = reader.read()  # the socket is opened on first use: here, in the netns
        try:
            keys = [svc.key for svc in full.services]
            assert len(keys) == SERVICES
            focus = frozenset(keys[:5])
            # a partial read of an unchanged table is the kernel's table, as ipvsadm lists it
            partial = reader.read(focus)
            assert partial.real_servers_read is not None
            assert focus <= partial.real_servers_read
            assert len(partial.real_servers_read) < SERVICES
            diffs = ipvs_oracle.compare(
                partial, {"list": ns_run(ns, ["ipvsadm", "-Ln"])}, counters=False
            )
            assert not diffs, diffs[:10]

            # out of focus: a new real server and a weight change, seen within the sweep
            victim = full.services[-1]
            assert victim.key not in focus and victim.address is not None
            vip = f"{victim.address}:{victim.port}"
            ns_run(ns, ["ipvsadm", "-a", "-t", vip, "-r", "192.168.77.7:80", "-m", "-w", "3"])
            first_rs = victim.real_servers[0]
            ns_run(
                ns, ["ipvsadm", "-e", "-t", vip, "-r", f"{first_rs.address}:80", "-m", "-w", "0"]
            )
            changed_at = time.monotonic()  # the reader's clock
            seen = None
            last_taken, longest_gap = changed_at, 0.0
            deadline = changed_at + lab.scaled(SWEEP + 30)  # a safety net, not the claim
            while seen is None and time.monotonic() < deadline:
                snap = reader.read(focus)
                longest_gap = max(longest_gap, snap.taken_at - last_taken)
                last_taken = snap.taken_at
                svc = snap.service(victim.key)
                assert svc is not None
                if len(svc.real_servers) == PER + 1:
                    seen = snap
                else:  # carried until then: what the kernel had before the change
                    assert [(rs.address, rs.weight) for rs in svc.real_servers] == [
                        (rs.address, rs.weight) for rs in victim.real_servers
                    ]
                    time.sleep(0.5)  # the dashboard polls every second; here twice as often
            assert seen is not None, "the change out of focus was never seen"
            # its turn came at most a sweep after its last read (before the change), noticed
            # by the first poll from then on
            assert seen.taken_at - changed_at <= SWEEP + longest_gap
            now = seen.service(victim.key)
            assert now is not None
            assert [
                (rs.address, rs.weight) for rs in now.real_servers if rs.address == first_rs.address
            ] == [(first_rs.address, 0)]
            assert seen.real_servers_read is not None
            assert victim.key in seen.real_servers_read
            diffs = ipvs_oracle.compare(
                seen, {"list": ns_run(ns, ["ipvsadm", "-Ln"])}, counters=False
            )
            assert not diffs, diffs[:10]

            # in focus: a change is seen by the next poll
            mine = full.services[0]
            assert mine.address is not None
            ns_run(
                ns,
                [
                    "ipvsadm",
                    "-a",
                    "-t",
                    f"{mine.address}:{mine.port}",
                    "-r",
                    "192.168.77.8:80",
                    "-m",
                ],
            )
            snap = reader.read(focus)
            svc = snap.service(mine.key)
            assert svc is not None and len(svc.real_servers) == PER + 1
        finally:
            reader.close()
