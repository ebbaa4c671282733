"""Add sha256 hashes to pinned requirement files, so setup installs with --require-hashes.

Usage: .venv/bin/python scripts/lock.py requirements.txt [requirements-nodeps.txt]
Each `name==version` line gets the hash of the file pip downloads for it on this platform
(python 3.11, manylinux x86_64 as CI runs it); comments are kept. A package that another one
requires with extras (celery[redis], psycopg[binary]...) also gets a `name[extras]==version`
line, which --require-hashes mode insists on. Run it in the venv, after regenerating
requirements.txt from requirements.in.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;\\#]+)")


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503), extras dropped."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def required_extras() -> dict[str, set[str]]:
    """Extras that installed packages ask of other installed packages (no extra of their own)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = {**default_environment(), "extra": ""}
    installed = {canonical(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    wanted: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        for line in dist.requires or []:
            req = Requirement(line)
            active = req.marker is None or req.marker.evaluate(env)
            if req.extras and active and canonical(req.name) in installed:
                wanted.setdefault(canonical(req.name), set()).update(req.extras)
    return wanted


def file_key(path: Path) -> tuple[str, str]:
    """(canonical name, version) of a wheel or sdist file name."""
    stem = path.name
    if stem.endswith(".whl"):
        name, version = stem.split("-")[:2]
    else:
        base = re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", stem)
        name, version = base.rsplit("-", 1)
    return canonical(name), version


def lock(requirements: Path) -> None:
    """Rewrite one requirements file with a hash under each pin."""
    pins = []
    for line in requirements.read_text().splitlines():
        found = PIN.match(line.strip())
        if found:
            pins.append(f"{found.group(1)}=={found.group(2)}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, *pins],
            check=True,
        )
        hashes = {
            file_key(path): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in Path(tmp).iterdir()
        }
    extras = required_extras()
    out = []
    for line in requirements.read_text().splitlines():
        if line.lstrip().startswith("--hash") or re.match(r"^[^#\s]+\[.*\]==", line):
            continue
        found = PIN.match(line.strip())
        if not found:
            out.append(line)
            continue
        pin, comment = line.split("#", 1) if "#" in line else (line, "")
        pin = pin.rstrip().rstrip("\\").rstrip()
        name, version = found.group(1), found.group(2)
        digest = hashes[(canonical(name), version)]
        if comment:
            out.append(f"# {name}:{comment}")
        out.append(f"{pin} \\\n    --hash=sha256:{digest}")
        if canonical(name) in extras:
            wanted = ",".join(sorted(extras[canonical(name)]))
            out.append(f"{name}[{wanted}]=={version} \\\n    --hash=sha256:{digest}")
    requirements.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        lock(Path(name))
