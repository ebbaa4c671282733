"""What the command modules share: the options several commands take, and one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Annotated

import typer

from include.platform.settings import first_line

logger = logging.getLogger(__name__)

# Options several commands share, with one help text each.
Symbols = Annotated[
    list[str] | None,
    typer.Option(
        "--symbol", "-s", help="Symbol; repeat for several. Default: SYMBOLS (ALL works)."
    ),
]
Start = Annotated[str, typer.Option(help="First minute, UTC (2025-01-01 or 2025-01-01T10:00).")]
End = Annotated[str, typer.Option(help="End, exclusive, UTC.")]


def one_line_errors(func: Callable[..., object]) -> Callable[..., object]:
    """Turn any failure into a one-line reason on stderr and exit status 1."""

    @wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # the contract is one line, not a traceback
            logger.debug("command failed", exc_info=True)
            typer.echo(f"error: {first_line(err)}", err=True)
            raise typer.Exit(1) from err

    return wrapper
