"""What the deployment files must carry: DESIGN.md's variables, the Dockerfile's ENV."""

from __future__ import annotations

import re

from tests.support.paths import PROJECT_ROOT

DESIGN_VARIABLES = {
    "DATABASE_URL",
    "SYMBOLS",
    "BINANCE_WS_URL",
    "BINANCE_REST_URL",
    "BINANCE_DATA_URL",
}


def dockerfile_env() -> dict[str, str]:
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.*)$", text, re.M))))
