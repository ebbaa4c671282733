"""The chart page ships only files whose checksums are recorded (api/static/SHA256SUMS)."""

from __future__ import annotations

import hashlib

from tests.support.paths import PROJECT_ROOT

STATIC = PROJECT_ROOT / "api" / "static"


def recorded() -> dict[str, str]:
    lines = (STATIC / "SHA256SUMS").read_text().splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {name: digest for digest, name in pairs}


def test_the_vendored_chart_library_is_the_recorded_release() -> None:
    """A changed byte of the vendored JavaScript (a bad upgrade, a tampered checkout) fails."""
    sums = recorded()
    assert sums, "no checksum recorded"
    for name, digest in sums.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name


def test_every_script_the_page_loads_is_recorded() -> None:
    scripts = {path.name for path in STATIC.glob("*.js")}
    assert scripts <= set(recorded()), sorted(scripts - set(recorded()))
