"""What the command-line entry points share: one runner (`run`) and one-line errors for bad input.

Every command module (`colorize_jax.main`, `evaluate`, `colorize`, `export`, `app` and the
programs under `tools/`) has a zero-argument `run()` that calls `run(main, PROGRAM, ...)` here,
and `if __name__ == "__main__": run()`; so a command runs as `python -m MODULE` or as its
console_scripts entry point (setup.cfg) the same way. No other module calls `app.run`,
`cpu.apply_defaults` or `reporting.quiet_library_logs` (tests/test_layout.py checks it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from absl import app, flags, logging

from colorize_jax import lookup
from colorize_jax.data import DataSourceError, ImageDecodeError
from colorize_jax.runtime import cpu, reporting

# Errors that mean "the input or config is wrong": shown as one line, not a traceback.
USER_ERRORS = (DataSourceError, ImageDecodeError, ValueError, FileNotFoundError, FloatingPointError)


def run(
    main: Callable[[list[str]], Any],
    program: str,
    *,
    define_flags: Callable[[], None] | None = None,
    config_flag: bool = False,
    takes_arguments: bool = False,
    argv: Sequence[str] | None = None,
) -> None:
    """Runs the command `main(argv)` as every command of the project runs; exits the process.

    In order: the CPU settings (`cpu.apply_defaults`, which must precede JAX's first backend);
    `define_flags()` when given (for commands that define their flags only when run, so that
    importing them stays free); then `absl.app.run`, which parses the flags (`argv`, by default
    `sys.argv`), then drops the library chatter from the log (`reporting.quiet_library_logs`)
    and calls `main` inside `one_line_errors(program)`: a user error becomes one line
    `PROGRAM: error: MESSAGE` and exit status 1. `config_flag`: the command has an
    ml_collections `--config` file flag, whose unknown `--config.KEY` overrides are answered
    with one line too (`config_flags_parser`). `takes_arguments`: `main` reads positional
    arguments (argv[1:]); without it, any is a usage error. A `UsageError` still prints the
    usage, as absl does (exit status 1).
    """
    cpu.apply_defaults()
    if define_flags is not None:
        define_flags()
    _help_as_a_module(main)

    def guarded(args: list[str]) -> Any:
        if len(args) > 1 and not takes_arguments:
            raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
        reporting.quiet_library_logs()
        with one_line_errors(program):
            return main(args)

    parser = config_flags_parser(program) if config_flag else app.parse_flags_with_usage
    app.run(guarded, argv=None if argv is None else list(argv), flags_parser=parser)


def _help_as_a_module(main: Callable[..., Any]) -> None:
    """Gives a console script the `--help` of `python -m MODULE`: its docstring and flags.

    absl's help shows the docstring and the flags of the program's `__main__` module; a console
    script's `__main__` is pip's wrapper, so they are lent from the command's module.
    """
    module = sys.modules.get(main.__module__)
    script = sys.modules.get("__main__")
    if module is None or script is None or module is script:
        return  # `python -m MODULE`: the module is __main__ already
    if not script.__doc__:
        script.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


@contextlib.contextmanager
def one_line_errors(program: str):
    """Turns user errors raised inside into `program: error: MESSAGE` and exit status 1.

    The traceback is still logged at verbosity 1 (`--verbosity=1`) for debugging.
    """
    try:
        yield
    except USER_ERRORS as error:
        logging.vlog(1, "%s", traceback.format_exc())
        raise SystemExit(f"{program}: error: {first_line(error)}") from None


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (its repr when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def config_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every field of a (nested) config by dotted name (the fields of sections, not sections)."""
    keys = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) or hasattr(value, "items"):
            keys += config_keys(value, name + ".")
        else:
            keys.append(name)
    return keys


def unknown_key_message(config: Mapping[str, Any], key: str, flag: str = "config") -> str | None:
    """None if dotted `key` is a field of `config`; else a message naming the closest fields."""
    node: Any = config
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node.keys():
            break
        node = node[part]
    else:
        return None
    valid = config_keys(config)
    close = lookup.closest(key, valid)
    if not close:  # e.g. a misspelt section: compare the last part with every field's
        leaf = key.rsplit(".", 1)[-1]
        by_leaf = {name.rsplit(".", 1)[-1]: name for name in reversed(valid)}
        close = [by_leaf[m] for m in lookup.closest(leaf, by_leaf)]
    hint = (
        f"closest valid keys: {', '.join(f'--{flag}.{name}' for name in close)}"
        if close
        else f"valid keys include {', '.join(f'--{flag}.{name}' for name in valid[:8])}, ..."
    )
    return f"unknown config key --{flag}.{key}; {hint}"


def load_config_file(argument: str) -> Any:
    """The config of a `FILE[:ARG]` argument, as `ml_collections.config_flags` builds it."""
    path, *arg = argument.split(":", 1)
    spec = importlib.util.spec_from_file_location("_colorize_jax_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(*arg)


def config_flags_parser(program: str, flag: str = "config") -> Callable[[Sequence[str]], Any]:
    """An `app.run(flags_parser=...)` that answers an unknown `--config.KEY` with one line.

    ml_collections refuses an override of a field the config does not have with a traceback;
    this names the closest valid keys instead (`program: error: ...`, exit status 1).
    """

    def parse(argv: Sequence[str]) -> Any:
        try:
            return app.parse_flags_with_usage(argv)
        except (KeyError, AttributeError):
            message = _unknown_override(argv, flag)
            if message is None:
                raise
            raise SystemExit(f"{program}: error: {message}") from None

    return parse


def _unknown_override(argv: Sequence[str], flag: str) -> str | None:
    file_arg = None
    overrides = []
    for arg in argv[1:]:
        name = arg.split("=", 1)[0]
        if name in (f"-{flag}", f"--{flag}") and "=" in arg:
            file_arg = arg.split("=", 1)[1]
        elif re.match(rf"^--?(no)?{flag}\.", name):
            overrides.append(name.split(".", 1)[1])
    if file_arg is None:
        return None
    try:
        config = load_config_file(file_arg)
    except Exception:  # noqa: BLE001 - the original error is the one to show then
        return None
    for key in overrides:
        message = unknown_key_message(config, key, flag)
        if message is not None:
            return message
    return None
