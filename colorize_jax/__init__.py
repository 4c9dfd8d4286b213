"""Automatic image colorization in JAX/Flax."""

from colorize_jax import cpu_runtime

# Before any JAX backend starts (see cpu_runtime for what is set and the figures behind it).
cpu_runtime.apply_defaults()
