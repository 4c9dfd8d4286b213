"""Tools: the benchmarks, the quality table and its rows, the ab prior and the GEMM peak.

The top layer: may import everything; nothing in the library imports tools.
"""
