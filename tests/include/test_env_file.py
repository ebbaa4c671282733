"""Every entry point reads .env; the environment wins over it; secrets are not printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from include.platform.pgserver import free_port
from include.platform.settings import variables
from tests.support.paths import PROJECT_ROOT


def run_config(env_file: Path, **env: str) -> str:
    """`python -m include.cli config` started by hand, as a user would, outside make."""
    base = {k: v for k, v in os.environ.items() if k not in ("SYMBOLS", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "include.cli", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env={**base, "ENV_FILE": str(env_file), **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_reads_dotenv_and_environment_wins(tmp_path: Path) -> None:
    """Values come from .env when the environment lacks them; a password never shows."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SYMBOLS=DOGEUSDT SOLUSDT\nDATABASE_URL=postgresql://me:s3cr%40t@db.example:5432/binance\n"
    )
    out = run_config(env_file)
    assert "SYMBOLS=DOGEUSDT SOLUSDT" in out
    assert "DATABASE_URL=postgresql://me:***@db.example:5432/binance" in out
    assert "s3cr" not in out
    assert "SYMBOLS=BTCUSDT" in run_config(env_file, SYMBOLS="BTCUSDT")


# Whatever .env does not override fails fast here: no embedded server, no real exchange.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def entry_point_env(env_file: Path, data_dir: Path, **env: str) -> dict[str, str]:
    """The environment of a service started by hand: ENV_FILE given, nothing of the platform's
    own but an unreachable DATABASE_URL."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("API_", "STREAMER_", "BINANCE_")) and k not in ("SYMBOLS",)
    }
    return {
        **base,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ENV_FILE": str(env_file),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": UNREACHABLE,
        **env,
    }


def read_variables(*paths: Path, prefix: str) -> set[str]:
    """The environment variables with this prefix that the sources read."""
    found: set[str] = set()
    for path in paths:
        found |= set(re.findall(rf'"({prefix}[A-Z_]+)"', path.read_text()))
    return found


@pytest.mark.parametrize(
    ("module", "prefix", "sources"),
    [
        ("streamer", "STREAMER_", ["streamer/config.py", "streamer/__main__.py"]),
        ("api", "API_", ["api/config.py", "api/__main__.py"]),
    ],
)
def test_help_lists_the_variables_and_starts_nothing(
    module: str, prefix: str, sources: list[str], tmp_path: Path
) -> None:
    """`python -m streamer --help` / `python -m api --help` print every variable the service
    reads and exit 0 at once, without a database or an exchange."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=entry_point_env(Path(os.devnull), tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert f"usage: python -m {module}" in done.stdout
    # The settings model's variables of this part, and any name its sources read by hand.
    wanted = set(variables(prefix))
    wanted |= read_variables(*(PROJECT_ROOT / s for s in sources), prefix=prefix)
    wanted |= {"DATABASE_URL", "ENV_FILE"}
    assert len(wanted) > 5
    missing = sorted(name for name in wanted if f"  {name} " not in done.stdout)
    assert not missing, f"--help does not list {missing}"
    assert not any(tmp_path.iterdir())


def test_streamer_reads_dotenv(tmp_path: Path) -> None:
    """The streamer started by hand takes its settings from .env; the environment wins."""
    env_file = tmp_path / ".env"
    env_file.write_text("STREAMER_STREAM=bookTicker\n")

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamer"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=entry_point_env(env_file, tmp_path, **env),
        )

    done = run()
    assert done.returncode == 2
    assert "STREAMER_STREAM: 'bookTicker' is not one of" in done.stderr
    # The environment's value wins: the stream kind is fine, so it fails later, on the database.
    done = run(STREAMER_STREAM="trade")
    assert done.returncode == 2
    assert "STREAMER_STREAM" not in done.stderr
    assert "127.0.0.1" in done.stderr


def test_api_serves_on_the_port_dotenv_names(database_url: str, tmp_path: Path) -> None:
    """`python -m api` started by hand listens on the API_PORT of .env, over the database .env
    names (API_DATABASE_URL, preferred to the environment's unreachable DATABASE_URL)."""
    port, grpc_port = free_port(), free_port()
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"API_DATABASE_URL={database_url}\nAPI_PORT={port}\nAPI_GRPC_PORT={grpc_port}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=tmp_path,
        env=entry_point_env(env_file, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v3/ping", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not come up on .env's port"
                time.sleep(0.3)
        assert response.status_code == 200
        assert response.json() == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_one_env_file_reaches_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One .env holding a STREAMER_* knob, an API_* setting and DESIGN.md's DATABASE_URL and
    SYMBOLS: the streamer, the API and the batch CLI each take what is theirs from it (the
    roles' URLs over .env's server), and the environment still wins over the file."""
    from api.config import load_config as api_config
    from include.platform import db
    from streamer.config import load_config as streamer_config

    env_file = tmp_path / ".env"
    env_file.write_text(
        "DATABASE_URL=postgresql://admin:pw@db.example:5433/binance\n"
        "SYMBOLS=dogeusdt,solusdt\n"
        "STREAMER_FLUSH_INTERVAL=0.25\n"
        "API_PORT=8123\n"
    )
    monkeypatch.setenv("ENV_FILE", str(env_file))
    for name in ("DATABASE_URL", "SYMBOLS", "STREAMER_FLUSH_INTERVAL", "API_PORT"):
        monkeypatch.delenv(name, raising=False)
    for role in (db.STREAMER, db.READER):
        monkeypatch.delenv(db.role_variables(role)[0], raising=False)

    streamer = streamer_config()
    assert streamer.flush_interval == 0.25
    assert streamer.symbols == ("DOGEUSDT", "SOLUSDT")
    parts = urlsplit(streamer.database_url)
    assert (parts.username, parts.hostname, parts.port) == (db.STREAMER, "db.example", 5433)

    api = api_config()
    assert api.port == 8123
    parts = urlsplit(api.database_url)
    assert (parts.username, parts.hostname, parts.port) == (db.READER, "db.example", 5433)

    out = run_config(env_file)
    assert "SYMBOLS=DOGEUSDT SOLUSDT" in out
    assert "DATABASE_URL=postgresql://admin:***@db.example:5433/binance" in out

    monkeypatch.setenv("STREAMER_FLUSH_INTERVAL", "0.5")
    monkeypatch.setenv("API_PORT", "8124")
    monkeypatch.setenv("SYMBOLS", "BTCUSDT")
    assert streamer_config(database_url="").flush_interval == 0.5
    assert streamer_config(database_url="").symbols == ("BTCUSDT",)
    assert api_config().port == 8124


def test_a_bad_value_in_dotenv_is_one_line_naming_it(tmp_path: Path) -> None:
    """A malformed number in .env stops the streamer and the API with one line naming the
    variable, not a traceback."""
    env_file = tmp_path / ".env"
    for module, line, message in (
        (
            "streamer",
            "STREAMER_FLUSH_INTERVAL=fast",
            "STREAMER_FLUSH_INTERVAL: 'fast' is not a number",
        ),
        ("api", "API_POOL_SIZE=many", "API_POOL_SIZE: 'many' is not an integer"),
    ):
        env_file.write_text(line + "\n")
        done = subprocess.run(
            [sys.executable, "-m", module],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=entry_point_env(env_file, tmp_path),
        )
        assert done.returncode == 2, module
        assert done.stderr.strip().splitlines() == [f"{module}: {message}"]


def test_every_setting_is_documented() -> None:
    """Each variable of the settings model is in .env.example, and the streamer's and the API's
    in their READMEs' tables, so no setting exists that a user cannot find."""
    from include.platform.settings import FIELDS

    example = set(re.findall(r"^#?\s*(\w+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M))
    assert not sorted(set(FIELDS) - example)
    for prefix, readme in (("STREAMER_", "streamer/README.md"), ("API_", "api/README.md")):
        text = (PROJECT_ROOT / readme).read_text()
        assert not [name for name in variables(prefix) if f"`{name}`" not in text], readme
