"""Automatic image colorization in JAX/Flax."""
