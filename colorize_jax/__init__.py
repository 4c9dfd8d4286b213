"""Automatic image colorization in JAX/Flax.

Subpackages by role, lowest first (a lower one never imports a higher one): `colour`, `data`,
`models`, `runtime`, `objectives`, `inference`, `evaluation`, `training`, `tools`. The
command modules beside them (`main`, `evaluate`, `colorize`, `export`, `app`) and the programs
in `tools` (`benchmark`, `quality_table`, `ab_prior`, ...) are the entry points, each started by
its `run()` through the one runner `runtime.cli.run` (also as console scripts: setup.cfg).
Importing the package changes no process settings: the runner applies the CPU defaults of
`runtime.cpu`, and a script or notebook that wants them calls
`colorize_jax.runtime.cpu.apply_defaults()` before it runs any JAX computation.
"""
