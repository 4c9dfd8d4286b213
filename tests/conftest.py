"""Fixtures shared by several test modules, and the CPU defaults the commands apply."""

import pytest

from colorize_jax.runtime import cpu
from tests.tiny_training import tiny_config

cpu.apply_defaults()  # before any test starts JAX (importing starts nothing), as the commands do


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A workdir trained once per test process with the tiny config (for inference tests)."""
    from colorize_jax.training import loop

    directory = tmp_path_factory.mktemp("trained")
    loop.train_and_evaluate(tiny_config(), str(directory))
    return str(directory)
