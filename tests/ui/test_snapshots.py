"""SVG snapshots of the main screen at 80×24 and 160×48, in each state, from lab recordings.

The App is fed by replay fakes of data recorded in the lab with the clock frozen at the
recording's end (``scripts/screenshots.py`` builds the same states; see its ``build`` and
``prepare``). Update with ``pytest tests/ui/test_snapshots.py --snapshot-update`` and look
at the report before committing new baselines.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "lvstop_screenshots", ROOT / "scripts" / "screenshots.py"
)
assert _spec and _spec.loader
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("state", shots.STATES)
def test_main_screen(snap_compare: Callable[..., bool], state: str, size: tuple[int, int]) -> None:
    app, rep = shots.build(state, ROOT / "tests" / "data" / "ui")

    async def run_before(pilot: Pilot[int]) -> None:
        await shots.prepare(app, rep, state)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
