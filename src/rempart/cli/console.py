"""Shared console and error reporting for every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from rempart.errors import ConfigErrors, RempartError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_USER_ERROR = 2


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors a user can cause into one clear message and exit status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigErrors as exc:
            for e in exc.errors:
                err_console.print(f"[red]error[/red] {e}", markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except RempartError as exc:
            err_console.print(f"[red]error[/red] {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; what was already recorded is kept")
            sys.exit(130)

    return wrapper
