"""Fixtures for tests that run inside the lab VM (see ``tests/lab_plugin.py``).

``lab`` is the session's :class:`lvstop.lab.LabHandle`; before every lab test the lab is
put back to its healthy default, undoing only what the previous test changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from lab_plugin import in_vm

if TYPE_CHECKING:
    from lvstop.lab import LabHandle


@pytest.fixture(scope="session")
def lab() -> LabHandle:
    if not in_vm():
        pytest.skip("lab tests run inside the UML lab VM (the host's pytest boots it)")
    from lvstop.lab import LabHandle

    return LabHandle()


@pytest.fixture(autouse=True)
def _lab_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    if in_vm() and request.node.get_closest_marker("lab") is not None:
        request.getfixturevalue("lab").reset()
    yield
