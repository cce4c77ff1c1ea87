"""The UML lab: a real IPVS kernel, keepalived and VRRP traffic in User-Mode Linux.

``topology`` (pure data, configs), ``vm`` (boot linux.uml from the host), ``inside`` and
``runtime`` (build and run the cluster inside the VM), ``faults`` (injectable faults),
``handle`` (``LabHandle``, what lab tests drive); the pytest plugin that runs the lab
tests in it is test support: tests/lab_plugin.py.
Nothing here imports more than the standard library at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lvstop.lab.handle import LabHandle

__all__ = ["LabHandle"]


def __getattr__(name: str) -> Any:
    if name == "LabHandle":
        from lvstop.lab.handle import LabHandle

        return LabHandle
    raise AttributeError(name)
