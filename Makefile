# The two commands that matter: `make run` starts the platform, `make test` runs every test
# (`make check` is its fast tier).
.PHONY: setup setup-tests run demo test check lint format bench stop clean

# The platform's own packages (make run); setup-tests adds what only the tests use (freqtrade's
# venv, Chromium, Redis), so a first `make run` does not wait for them.
setup:
	@bash scripts/setup.sh

setup-tests:
	@bash scripts/setup.sh --tests

run: setup
	@bash scripts/run.sh run

demo: setup
	@bash scripts/run.sh demo

test: setup-tests
	@bash scripts/test.sh

# The edit loop: lint and every test not marked slow (no Airflow scheduler, soak, browser or
# multi-second run), on every core, in a few minutes.
check: setup-tests
	@bash scripts/test.sh -m "not slow"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: setup
	@bash scripts/bench.sh

stop: setup
	.venv/bin/python -m include.cli db stop

clean: stop
	rm -rf .data
