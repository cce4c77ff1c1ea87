"""The self-contained agent file: stdlib-only closure, runs under ``python3 -I -S`` with no
lvstop importable, python 3.10 syntax; the bootstrap that caches it (run through ``sh -c`` as
ssh's remote shell would run it)."""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from lvstop.agent import bundle

SYSTEM_PYTHON = "/usr/bin/python3"


def test_closure_is_stdlib_only_or_explained() -> None:
    found = bundle.closure()
    assert "lvstop.agent.server" in found.modules and "lvstop.actions" in found.modules
    for name in ("textual", "pyroute2", "psutil", "scapy"):
        assert not any(m.startswith(name) for m in found.modules)
    assert all(f in bundle.NOT_REACHED for f in found.foreign), found.foreign


def test_closure_is_python_310() -> None:
    """Debian 12 / Ubuntu 22.04 / RHEL 9 python3: 3.10 syntax and no 3.11-only names."""
    for name, path in bundle.closure().modules.items():
        source = path.read_text(encoding="utf-8")
        ast.parse(source, str(path), feature_version=(3, 10))
        for needle in ("dt.UTC", "datetime.UTC", "TaskGroup", "asyncio.timeout(", "ExceptionGroup"):
            assert needle not in source, f"{name} uses {needle} (python 3.11)"
        if "import tomllib" in source:
            assert "except ModuleNotFoundError" in source, f"{name}: tomllib unguarded"


def test_build_is_deterministic() -> None:
    assert bundle.build() == bundle.build()


def test_file_runs_alone_under_isolated_python(tmp_path: Path) -> None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no /usr/bin/python3")
    agent = tmp_path / "agent.pyz"
    bundle.write_file(agent)
    with zipfile.ZipFile(agent) as zf:
        assert "__main__.py" in zf.namelist()
    # nothing of the host's lvstop can be found: -I (no PYTHONPATH, no user site, no cwd),
    # -S (no site-packages), an empty environment, run from an empty folder
    empty = tmp_path / "empty"
    empty.mkdir()
    alone = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", "import lvstop"],
        capture_output=True,
        timeout=60,
        env={},
        cwd=empty,
    )
    assert alone.returncode == 1 and b"No module named 'lvstop'" in alone.stderr
    where = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-I",
            "-S",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "import lvstop.agent.server, lvstop.actions; "
            "print(sorted({m.__file__.split('.pyz')[0] for n, m in sys.modules.items() "
            "if n.startswith('lvstop')}))",
            str(agent),
        ],
        capture_output=True,
        timeout=60,
        env={},
        cwd=empty,
    )
    assert where.returncode == 0, where.stderr.decode()
    assert json.loads(where.stdout.replace(b"'", b'"')) == [str(tmp_path / "agent")]
    # the way ssh runs it
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", str(agent), "--no-vrrp"],
        input=b"",
        capture_output=True,
        timeout=120,
        env={},
        cwd=empty,
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    assert json.loads(proc.stdout.splitlines()[0])["schema"] == "lvstop.agent/1"


def run_bootstrap(home: Path, data: bytes, b: bundle.Bundle) -> subprocess.CompletedProcess[bytes]:
    (command,) = bundle.bootstrap_command(b, "push", ["--no-vrrp"])
    return subprocess.run(
        ["sh", "-c", command],
        input=data,
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_bootstrap_caches_by_hash_in_a_private_folder(tmp_path: Path) -> None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no /usr/bin/python3")
    b = bundle.bundle()
    first = run_bootstrap(tmp_path, b.data, b)
    assert first.returncode == 0, first.stderr.decode()
    lines = [json.loads(x) for x in first.stdout.splitlines()]
    assert lines[0] == {"type": "bootstrap", "send": True}
    assert lines[1]["type"] == "hello"
    cache = tmp_path / ".cache" / "lvstop"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    cached = list(cache.iterdir())
    assert [p.name for p in cached] == [f"agent-{b.digest[:32]}.pyz"]
    assert stat.S_IMODE(cached[0].stat().st_mode) == 0o600
    second = run_bootstrap(tmp_path, b"", b)  # cached: nothing asked for
    assert json.loads(second.stdout.splitlines()[0]) == {"type": "bootstrap", "send": False}
    assert json.loads(second.stdout.splitlines()[1])["type"] == "hello"


def test_bootstrap_refuses_a_shared_cache_and_a_damaged_file(tmp_path: Path) -> None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no /usr/bin/python3")
    b = bundle.bundle()
    damaged = run_bootstrap(tmp_path, b"x" * len(b.data), b)
    assert damaged.returncode == 3
    assert "hash mismatch" in json.loads(damaged.stdout.splitlines()[-1])["error"]
    assert list((tmp_path / ".cache" / "lvstop").iterdir()) == []
    other = tmp_path / "other"
    (other / ".cache" / "lvstop").mkdir(parents=True)
    os.chmod(other / ".cache" / "lvstop", 0o777)
    shared = run_bootstrap(other, b.data, b)
    assert shared.returncode == 3
    assert "mode 0700" in json.loads(shared.stdout.splitlines()[-1])["error"]


def python_310() -> str | None:
    """A CPython 3.10 on this machine: the machine image ships one (pyenv's); Debian 12 has
    only 3.11. None when there is none (then the static check above is all)."""
    import glob
    import shutil

    found = shutil.which("python3.10")
    candidates = sorted(glob.glob("/root/.pyenv/versions/3.10*/bin/python3.10"))
    for path in ([found] if found else []) + candidates:
        probe = subprocess.run(
            [path, "-I", "-S", "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0 and probe.stdout.strip() == b"True":
            return path
    return None


def test_file_runs_under_python_310(tmp_path: Path) -> None:
    """The oldest python3 a director may have (Ubuntu 22.04's): the agent file runs under it
    with ``-I -S`` alone, says hello, sends its snapshot, answers requests (the new ones
    too) and ends cleanly at EOF."""
    py310 = python_310()
    if py310 is None:
        pytest.skip("no python 3.10 on this machine (the closure is checked statically)")
    agent = tmp_path / "agent.pyz"
    bundle.write_file(agent)
    empty = tmp_path / "empty"
    empty.mkdir()
    requests = [
        {"id": 1, "op": "ping"},
        {"id": 2, "op": "vrrp"},
        {"id": 3, "op": "keepalived"},
        {"id": 4, "op": "keepalived", "ask": "yes"},
        {"id": 5, "op": "drain", "rs": "tcp:10.0.5.96:8888->10.0.5.91:8888"},
    ]
    proc = subprocess.Popen(
        [
            py310,
            "-I",
            "-S",
            str(agent),
            "--no-vrrp",
            "--interval",
            "0.2",
            "--keepalived-state" if os.geteuid() == 0 else "--no-keepalived-state",
            "--state-file",
            str(tmp_path / "drained.json"),
            "--audit-log",
            str(tmp_path / "audit.log"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={},
        cwd=empty,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    lines = []
    for raw in proc.stdout:
        msg = json.loads(raw)
        lines.append(msg)
        if msg["type"] == "snapshot":  # requests after the first poll
            proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
            proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
    hello = lines[0]
    assert hello["type"] == "hello" and hello["python"].startswith("3.10.")
    got = {m["id"]: m for m in lines if m["type"] in ("result", "error") and m["id"]}
    assert got[1]["pong"] is True
    assert got[2]["error"] == "this agent captures no VRRP (--no-vrrp)"
    assert got[3]["type"] == "result" and isinstance(got[3]["verdicts"], dict)
    assert got[4]["error"] == "keepalived: ask must be true or false"
    assert got[5]["type"] == "error"  # no IPVS on this host: the kernel's reason, no write
    assert not (tmp_path / "drained.json").exists()


def old_pythons() -> list[str]:
    """CPython 3.x older than 3.10 on this machine (the image's pyenv has 3.6 to 3.9)."""
    import glob

    return sorted(glob.glob("/root/.pyenv/versions/3.[6-9].*/bin/python3.[6-9]"))


@pytest.mark.parametrize("python", old_pythons() or [None])
def test_too_old_a_python_is_said_in_one_line(python: str | None, tmp_path: Path) -> None:
    """The bootstrap itself runs under whatever python3 a director has: an old one gets the
    one-line reason the fleet shows, not a SyntaxError, and nothing is cached."""
    if python is None:
        pytest.skip("no python 3.6 to 3.9 on this machine")
    b = bundle.bundle()
    proc = subprocess.run(
        [python, "-c", bundle.BOOTSTRAP, b.digest, str(len(b.data)), "push"],
        input=b"",
        capture_output=True,
        timeout=60,
        env={"HOME": str(tmp_path)},
    )
    version = ".".join(Path(python).name.removeprefix("python").split(".")[:2])
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == b""
    assert json.loads(proc.stdout) == {
        "id": None,
        "error": f"python3 here is {version}: the agent needs 3.10 or newer",
        "type": "error",
    }
    assert not (tmp_path / ".cache").exists()
