"""The self-contained agent: one zip file (``python3 FILE`` runs it) built at run time from the
agent's import closure, standard library only, and the small bootstrap that caches it on a
director.

Why a zipapp: a director needs nothing but python3 ≥ 3.10 (no pip, no Textual, no pyroute2,
psutil or scapy, nothing compiled); ``ssh HOST python3 -c BOOTSTRAP`` receives the file on the
same connection when its cache lacks it and runs it with ``-I -S`` (no user site, no
PYTHONPATH: what runs is exactly the file whose hash we checked).

The closure is found by reading the import statements of ``ROOTS`` (every ``import``, also
inside functions): lvstop modules go in, anything else must be in ``sys.stdlib_module_names``
or be listed in ``NOT_REACHED`` with why the agent never reaches that import.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import lvstop

ROOTS = ("lvstop.agent.server",)

#: (module, imported name) → why the agent never executes that import
NOT_REACHED = {
    (
        "lvstop.sources.keepalived_state",
        "psutil",
    ): "scan_processes only: the agent hands find_processes its /proc scan "
    "(lvstop.agent.probe.keepalived_process_infos)",
    (
        "lvstop.sources.keepalived_conf",
        "psutil",
    ): "host_interfaces only: the agent parses keepalived.conf without this host's "
    "interfaces (parse_file's interfaces=None)",
}

MAIN = """\
import sys
from lvstop.agent.server import main
sys.exit(main())
"""

#: one date for every member: the same sources give the same bytes and the same hash
_DATE = (2020, 1, 1, 0, 0, 0)

PACKAGE_DIR = Path(lvstop.__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "lvstop":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(name: str, path: Path) -> list[str]:
    """Every module name ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.append(module)
            # `from lvstop.sources import genl`: genl is a module of its own
            out.extend(
                f"{module}.{alias.name}"
                for alias in node.names
                if _module_file(f"{module}.{alias.name}") is not None
            )
    return out


@dataclass(frozen=True)
class Closure:
    modules: dict[str, Path]
    #: (module, imported top-level name) of every import outside lvstop and the stdlib
    foreign: tuple[tuple[str, str], ...]


def closure(roots: tuple[str, ...] = ROOTS) -> Closure:
    modules: dict[str, Path] = {}
    foreign: set[tuple[str, str]] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in modules:
            continue
        path = _module_file(name)
        if path is None:
            raise ValueError(f"{name}: not a module of lvstop")
        modules[name] = path
        parent = name.rpartition(".")[0]
        if parent and parent not in modules:
            todo.append(parent)
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if top == "lvstop":
                if _module_file(imported) is not None:
                    todo.append(imported)
            elif top not in sys.stdlib_module_names:
                foreign.add((name, top))
    return Closure(modules, tuple(sorted(foreign)))


def build() -> bytes:
    """The agent file's bytes (deterministic for the same sources)."""
    found = closure()
    unexplained = [f for f in found.foreign if f not in NOT_REACHED]
    if unexplained:
        raise ValueError(
            "the agent would import beyond the standard library: "
            + ", ".join(f"{m} imports {n}" for m, n in unexplained)
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        members = {
            f"{'/'.join(name.split('.'))}"
            + ("/__init__.py" if path.name == "__init__.py" else ".py"): path
            for name, path in found.modules.items()
        }
        for arcname in sorted(members):
            info = zipfile.ZipInfo(arcname, _DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[arcname].read_bytes())
        info = zipfile.ZipInfo("__main__.py", _DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, MAIN)
    return buf.getvalue()


@dataclass(frozen=True)
class Bundle:
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_cached: Bundle | None = None


def bundle() -> Bundle:
    global _cached
    if _cached is None:
        _cached = Bundle(build())
    return _cached


# The bootstrap runs on the director as the ssh user, under whatever python3 is there: plain
# old syntax, % formatting. argv: DIGEST SIZE MODE AGENT-ARGS...; MODE is "push", "sudo-push"
# (run the agent with sudo -n), or with "installed-" in front: use an installed lvstop when
# there is one. It says one line first: {"type":"bootstrap","send":true} asks for the file
# (SIZE bytes on stdin, read unbuffered so no request line is eaten), then it execs the agent.
BOOTSTRAP = r"""
import hashlib, json, os, shutil, stat, sys
def say(kind, **kw):
    kw["type"] = kind
    sys.stdout.write(json.dumps(kw) + "\n"); sys.stdout.flush()
def fail(text):
    say("error", id=None, error=text); sys.exit(3)
digest, size, mode, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
sudo = ["sudo", "-n"] if "sudo" in mode else []
if sys.version_info < (3, 10):
    fail("python3 here is %d.%d: the agent needs 3.10 or newer" % sys.version_info[:2])
if mode.startswith("installed") and shutil.which("lvstop"):
    say("bootstrap", send=False, installed=shutil.which("lvstop"))
    os.execvp(sudo[0] if sudo else "lvstop", sudo + ["lvstop", "agent"] + rest)
home = os.path.expanduser("~")
cache = os.path.join(home, ".cache", "lvstop")
try:
    os.makedirs(cache, 0o700, exist_ok=True)
    st = os.lstat(cache)
except OSError as exc:
    fail("cannot make the cache %s: %s" % (cache, exc.strerror))
if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
    fail("the cache %s is not a directory of uid %d with mode 0700" % (cache, os.getuid()))
path = os.path.join(cache, "agent-%s.pyz" % digest[:32])
def have():
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            return False
        return hashlib.sha256(fh.read()).hexdigest() == digest
if not have():
    say("bootstrap", send=True)
    chunks, left = [], size
    while left > 0:
        chunk = os.read(0, min(left, 65536))
        if not chunk:
            fail("the agent file was cut short")
        chunks.append(chunk); left -= len(chunk)
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != digest:
        fail("the agent file arrived damaged (hash mismatch)")
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.rename(tmp, path)
else:
    say("bootstrap", send=False)
argv = sudo + [sys.executable, "-I", "-S", path] + rest
os.execvp(argv[0], argv)
"""


def bootstrap_command(b: Bundle, mode: str, agent_args: list[str]) -> list[str]:
    """The remote command (ssh joins it into one shell line: every word quoted here)."""
    import shlex

    words = ["python3", "-c", BOOTSTRAP, b.digest, str(len(b.data)), mode, *agent_args]
    return [" ".join(shlex.quote(w) for w in words)]


def write_file(path: str | os.PathLike[str]) -> str:
    """Write the agent file to ``path`` (for tests and for copying by hand); its digest."""
    b = bundle()
    Path(path).write_bytes(b.data)
    return b.digest
