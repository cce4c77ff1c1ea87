"""The batched receive (``recvmmsg``, several datagrams per system call) against the plain one
(one ``recv_into`` per datagram), on Linux 6.1's IPVS: the same snapshot on every generated
table, on a table whose dumps span many datagrams, and under ``ipvsadm -R`` churn; and the
kernel behaviour it rests on: a real-server dump's data and its NLMSG_DONE are two datagrams,
the DONE queued while the data is received, so one batched receive takes both."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle

from tests.lab.test_ipvs_oracle import ipvsadm_outputs, load_pe_sip, ns_run

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab


def readers(lab: LabHandle, ns: str) -> tuple[Any, Any]:
    """(batched, plain) cold readers with their sockets in ``ns``."""
    from lvstop.sources.genl import GenlSocket
    from lvstop.sources.ipvs import IpvsNetlink, IpvsReader

    with lab.netns(ns):
        batched = IpvsReader(IpvsNetlink(GenlSocket()), memo=False)
        plain = IpvsReader(IpvsNetlink(GenlSocket(batch=False)), memo=False)
    assert isinstance(batched.transport, IpvsNetlink) and batched.transport.sock.batched
    assert isinstance(plain.transport, IpvsNetlink) and not plain.transport.sock.batched
    return batched, plain


def count_receives(reader: Any) -> list[int]:
    """Wrap the reader's socket's receive: the list gets the datagram count of each call."""
    sock = reader.transport.sock
    calls: list[int] = []
    recv: Callable[[], Any] = sock._recv

    def wrapped() -> list[tuple[int, int]]:
        got = list(recv())
        calls.append(len(got))
        return got

    sock._recv = wrapped
    return calls


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_batched_and_plain_reads_give_the_same_snapshot(lab: LabHandle, seed: int) -> None:
    load_pe_sip()
    with lab.scratch_netns() as ns:
        ns_run(ns, ["ipvsadm", "-R"], stdin=ipvs_oracle.generate_rules(seed))
        daemon = ["--mcast-interface", "lo", "--syncid", str(seed)]
        ns_run(ns, ["ipvsadm", "--start-daemon", "master", *daemon])
        batched, plain = readers(lab, ns)
        try:
            a, b = batched.read(), plain.read()
            outputs = ipvsadm_outputs(ns)
        finally:
            batched.close()
            plain.close()
            ns_run(ns, ["ipvsadm", "--stop-daemon", "master"])
    assert len(a.services) > 20
    assert (a.services, a.timeouts, a.daemons) == (b.services, b.timeouts, b.daemons)
    assert [d.state for d in a.daemons] == ["master"]
    diffs = ipvs_oracle.compare(a, outputs)
    assert not diffs, "\n".join(diffs[:30])


def wide_table(services: int, per_service: int) -> str:
    """Services with many real servers each (their dump spans several datagrams)."""
    lines = []
    for s in range(services):
        vip = f"10.150.0.{s + 1}:80"
        lines.append(f"-A -t {vip} -s wlc")
        lines += [
            f"-a -t {vip} -r 192.168.{r // 250}.{r % 250 + 1}:80 -m -w {r % 7}"
            for r in range(per_service)
        ]
    return "\n".join(lines) + "\n"


def test_two_system_calls_per_service_and_dumps_of_many_datagrams(lab: LabHandle) -> None:
    """2,500 small services (their dump: some 25 datagrams, more than one batch) and 6 with
    120 real servers (~48 KB each, more than one 32 KB datagram)."""
    with lab.scratch_netns() as ns:
        ns_run(ns, ["ipvsadm", "-R"], stdin=ipvs_oracle.big_table(2500, 1) + wide_table(6, 120))
        batched, plain = readers(lab, ns)
        try:
            batched.read(), plain.read()  # the sockets learn the kernel's datagram size
            batch_calls, plain_calls = count_receives(batched), count_receives(plain)
            a, b = batched.read(), plain.read()
        finally:
            batched.close()
            plain.close()
    assert len(a.services) == 2506
    assert sorted(len(s.real_servers) for s in a.services)[-6:] == [120] * 6
    assert a.services == b.services and a.timeouts == b.timeouts
    datagrams = sum(plain_calls)
    assert sum(batch_calls) == datagrams  # the same datagrams, fewer calls
    # each small service: data + DONE in one batched call, in two plain ones; the service
    # dump and a wide service take several datagrams (batched up to 16 a call); then the
    # timeouts (reply + ACK) and the sync daemons (DONE)
    assert len(plain_calls) >= 2 * 2500 + 3 * 6
    assert len(batch_calls) <= 2500 + 6 + 2 + -(-(datagrams - 2 * 2500 - 3 * 6) // 16) + 2
    assert max(batch_calls) == 16  # the service dump filled whole batches


def reference(lab: LabHandle, ns: str, rules: str) -> dict[str, Any]:
    """The services of ``rules`` as a plain read gives them, by key."""
    from lvstop.sources.ipvs import IpvsReader

    ns_run(ns, ["ipvsadm", "-C"])
    ns_run(ns, ["ipvsadm", "-R"], stdin=rules)
    with lab.netns(ns):
        reader = IpvsReader(memo=False)
        snap = reader.read()
    reader.close()
    return {svc.key: svc for svc in snap.services}


CHURNED = 10


def churn_script(i: int) -> str:
    """Step ``i`` of the churn: a churned service deleted, or added with its real servers one
    by one (a read may see it part-way: a prefix of its real servers)."""
    vip = f"10.200.0.{i // 2 % CHURNED + 1}:80"
    if i % 2:
        return f"-D -t {vip}\n"
    return f"-A -t {vip} -s rr\n" + "".join(
        f"-a -t {vip} -r 192.168.9.{r}:80 -m -w {r}\n" for r in range(1, 4)
    )


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "plain"])
def test_reads_under_churn_are_whole_states_of_the_table(lab: LabHandle, batch: bool) -> None:
    """Services deleted and re-added with ``ipvsadm -R`` while reading: the stable services
    exactly as before, a churned one absent or with a prefix of its real servers (a service
    gone before its real-server dump is dropped, never an error), batched as plain."""
    from lvstop.sources.genl import GenlSocket
    from lvstop.sources.ipvs import IpvsNetlink, IpvsReader

    with lab.scratch_netns() as ns:
        stable = ipvs_oracle.big_table(40, 3)
        full = "".join(churn_script(i) for i in range(0, 2 * CHURNED, 2))
        # no traffic in this netns: every counter stays 0, snapshots compare whole
        churned_ref = reference(lab, ns, full)
        stable_ref = reference(lab, ns, stable)
        assert len(churned_ref) == CHURNED and len(stable_ref) == 40
        stop = threading.Event()
        errors: list[str] = []
        steps = [0]

        def churn() -> None:
            while not stop.is_set():
                proc = subprocess.run(
                    ["ip", "netns", "exec", ns, "ipvsadm", "-R"],
                    input=churn_script(steps[0]),
                    text=True,
                    capture_output=True,
                    check=False,
                )
                if proc.returncode:
                    errors.append(proc.stderr)
                steps[0] += 1

        with lab.netns(ns):
            reader = IpvsReader(IpvsNetlink(GenlSocket(batch=batch)), memo=False)
        assert isinstance(reader.transport, IpvsNetlink) and reader.transport.sock.batched is batch
        thread = threading.Thread(target=churn)
        thread.start()
        snaps: list[Any] = []
        deadline = time.monotonic() + lab.scaled(120)  # a safety net, not the claim
        try:
            # reads over enough churn to see churned services both present and absent
            while len(snaps) < 20 or steps[0] < 40:
                assert time.monotonic() < deadline, f"{len(snaps)} reads, {steps[0]} steps"
                snaps.append(reader.read())
        finally:
            stop.set()
            thread.join()
            reader.close()
    assert not errors, errors[:3]
    present = absent = 0
    for snap in snaps:
        got = {svc.key: svc for svc in snap.services}
        assert {k: v for k, v in got.items() if k in stable_ref} == stable_ref
        for key, ref in churned_ref.items():
            svc = got.get(key)
            if svc is None:
                absent += 1
                continue
            present += 1
            assert svc.scheduler == ref.scheduler
            n = len(svc.real_servers)
            # the kernel lists real servers newest first: a part-way service shows the last n
            assert svc.real_servers == ref.real_servers[len(ref.real_servers) - n :]
        assert set(got) <= set(stable_ref) | set(churned_ref)
    assert present and absent
