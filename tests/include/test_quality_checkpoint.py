"""The quality run's validations side by side (include/quality/checkpoint.py) share GX's YAML
handler: each batch re-reads the project's config variables through it. Unlocked, two threads
parsing at once broke each other's parse (a scheduled run failed about one time in ten)."""

from __future__ import annotations

import threading

from great_expectations.core import config_provider

import include.quality.checkpoint  # noqa: F401  (locks GX's YAML handler)

VARIABLES = "\n".join(f"variable_{i}: value number {i}, as a project holds it" for i in range(30))


def test_gx_yaml_parses_alike_from_two_validation_threads() -> None:
    expected = {f"variable_{i}": f"value number {i}, as a project holds it" for i in range(30)}
    errors: list[str] = []

    def parse() -> None:
        for _ in range(60):
            try:
                assert dict(config_provider.yaml.load(VARIABLES)) == expected
            except Exception as error:  # every kind of broken parse counts
                errors.append(repr(error)[:120])

    threads = [threading.Thread(target=parse) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
