"""Tools: the benchmarks, the quality table and its rows, the ab prior, the GEMM peak, shipping
a model, its sample sheet and test clips. Each program runs where it lives
(`python -m colorize_jax.tools.NAME`) or as its console script (`colorize-jax-NAME`).

The top layer: may import everything; nothing in the library imports tools.
"""
