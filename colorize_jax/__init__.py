"""Automatic image colorization in JAX/Flax.

Subpackages by role, lowest first (a lower one never imports a higher one): `colour`, `data`,
`models`, `runtime`, `objectives`, `inference`, `evaluation`, `training`, `tools`. The
command modules beside them (`main`, `evaluate`, `colorize`, `export`, `benchmark`,
`quality_table`, `ab_prior`, `colorize_benchmark`) are the entry points. Importing the package
changes no process settings: the commands apply the CPU defaults of `runtime.cpu` themselves, and
a script or notebook that wants them calls `colorize_jax.runtime.cpu.apply_defaults()` before it
runs any JAX computation.
"""
