"""`python -m include.cli`."""

from include.cli import app

app()
