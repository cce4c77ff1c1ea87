"""The limits the weight and timeouts dialogs enforce (lvstop.model.ipvs MAX_WEIGHT,
MAX_TIMEOUT), against the lab kernel with ipvsadm the oracle: what lvstop allows the kernel
takes; past its own timeout limit (INT_MAX / HZ) it refuses. Weights: the kernel takes up to
INT_MAX (2**31 is ERANGE: test_ipvs_writes.py); lvstop keeps to 65535."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lvstop.model.ipvs import MAX_TIMEOUT, MAX_WEIGHT
from tests.lab.test_ipvs_writes import RS1, ns_run, table, weight_of, writer_in  # noqa: F401

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab


def timeouts(ns: str) -> tuple[int, int, int]:
    out = ns_run(ns, ["ipvsadm", "-L", "--timeout"]).stdout
    # "Timeout (tcp tcpfin udp): 900 120 300"
    tcp, fin, udp = out.rsplit(":", 1)[1].split()
    return int(tcp), int(fin), int(udp)


def test_the_kernel_takes_the_dialog_limits_and_refuses_past_its_own(
    lab: LabHandle,
    table: tuple[str, Path],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lvstop.actions as actions
    from lvstop.actions import ActionError

    ns, state_dir = table
    w = writer_in(lab, ns, state_dir)
    w.set_timeouts(MAX_TIMEOUT, MAX_TIMEOUT, MAX_TIMEOUT)
    assert timeouts(ns) == (MAX_TIMEOUT,) * 3
    w.set_weight(RS1, MAX_WEIGHT)
    assert weight_of(ns, RS1) == MAX_WEIGHT
    # the kernel's own limit (INT_MAX / HZ), with lvstop's check lifted: INT_MAX seconds is
    # refused, and changes nothing
    monkeypatch.setattr(actions, "MAX_TIMEOUT", 2**31 - 1)
    with pytest.raises(ActionError, match=r"EINVAL|Invalid"):
        w.set_timeouts(2**31 - 1, 0, 0)
    assert timeouts(ns) == (MAX_TIMEOUT,) * 3
    # weights: the kernel (and ipvsadm 1.31) take up to INT_MAX; lvstop keeps to 65535
    monkeypatch.setattr(actions, "MAX_WEIGHT", 2**32 - 1)
    w.set_weight(RS1, 2**31 - 1)
    assert weight_of(ns, RS1) == 2**31 - 1
