"""Fixtures shared by several test modules."""

import pytest

from tests.tiny_training import tiny_config


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A workdir trained once per test process with the tiny config (for inference tests)."""
    from colorize_jax import train

    directory = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(tiny_config(), str(directory))
    return str(directory)
