"""A failed DAG run reaches a person: the task's failure is posted to ALERT_WEBHOOK_URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.include.history_support import running_fake
from tests.support.dags import load_dag

pytestmark = pytest.mark.slow


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server recording every JSON body posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_failed_task_is_posted_to_the_webhook(
    webhook, database_url: str, airflow_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill of a symbol Binance does not list fails, and the webhook hears why."""
    url, received = webhook
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    with running_fake() as fake:
        monkeypatch.setenv("BINANCE_REST_URL", fake.url)
        run = load_dag("binance_backfill_rest").test(
            run_conf={"symbols": ["NOPEUSDT"], "start": "2025-03-10", "end": "2025-03-11"}
        )
    assert run.state == "failed"
    [alert] = received
    assert alert["dag_id"] == "binance_backfill_rest"
    assert alert["task_id"] == "load"
    assert "unknown symbol NOPEUSDT" in alert["text"]
