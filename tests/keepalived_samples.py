"""keepalived's own sample configs, read from the keepalived package ``dev.sh`` installs
(``/usr/share/doc/keepalived/samples``), never from a copy in this repository. A sample Debian
compresses (``NAME.gz``) is read as keepalived would be given it: decompressed, into a private
temporary directory. What keepalived printed for each (its ``-t`` output, log and dumps, recorded
in UML by ``SET=samples tests/data/keepalived/record_corpus.sh``) is in
tests/data/keepalived/samples-oracle, with the samples' sha256 sums the recording was made from.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import shutil
import tempfile
from pathlib import Path

SAMPLES_DIR = Path("/usr/share/doc/keepalived/samples")
DATA = Path(__file__).resolve().parent / "data" / "keepalived"
SAMPLES_ORACLE = DATA / "samples-oracle"
#: lvstop's own config exercising every syntax feature, recorded with the samples
FEATURES = DATA / "features" / "main.conf"


def sample_names() -> list[str]:
    """The installed samples' names (``keepalived.conf.*``, without a ``.gz``), sorted."""
    if not SAMPLES_DIR.is_dir():
        return []
    names = {p.name.removesuffix(".gz") for p in SAMPLES_DIR.glob("keepalived.conf.*")}
    return sorted(names)


@functools.cache
def _unpacked() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="lvstop-ka-samples-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


def sample(name: str) -> Path:
    """The path of sample ``name`` as keepalived reads it (decompressed if gzipped)."""
    plain = SAMPLES_DIR / name
    if plain.exists():
        return plain
    packed = SAMPLES_DIR / f"{name}.gz"
    if not packed.exists():
        raise FileNotFoundError(
            f"{plain}: keepalived's samples are not installed (./dev.sh installs keepalived)"
        )
    out = _unpacked() / name
    if not out.exists():
        out.write_bytes(gzip.decompress(packed.read_bytes()))
    return out


def recorded_sums() -> dict[str, str]:
    """name → sha256 of the samples the recordings were made from."""
    sums = {}
    for line in (SAMPLES_ORACLE / "samples.sha256").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    return sums


def installed_sums() -> dict[str, str]:
    return {n: hashlib.sha256(sample(n).read_bytes()).hexdigest() for n in sample_names()}
