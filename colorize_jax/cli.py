"""What the command-line entry points share: one-line errors for bad input."""

from __future__ import annotations

import contextlib
import traceback

from absl import logging

from colorize_jax.data import DataSourceError, ImageDecodeError

# Errors that mean "the input or config is wrong": shown as one line, not a traceback.
USER_ERRORS = (DataSourceError, ImageDecodeError, ValueError, FileNotFoundError, FloatingPointError)


@contextlib.contextmanager
def one_line_errors(program: str):
    """Turns user errors raised inside into `program: error: MESSAGE` and exit status 1.

    The traceback is still logged at verbosity 1 (`--verbosity=1`) for debugging.
    """
    try:
        yield
    except USER_ERRORS as error:
        logging.vlog(1, "%s", traceback.format_exc())
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise SystemExit(f"{program}: error: {message}") from None
