"""The peak FLOP/s that MFU is measured against.

On accelerators: a table of dense bfloat16 peaks per chip. On CPUs there is no trustworthy
table (clock, turbo and the vector unit vary by machine and by load), so the peak is measured:
the best rate of a float32 n x n x n GEMM among the libraries this process can call, each timed
the same way (best of `repeats` products after a warm-up):

  xla           jnp.matmul jitted with this process's XLA flags (XLA:CPU's own dot emitter)
  xla_ynnpack   the same product compiled with XLA:CPU's YNNPACK dot fusion
  numpy_<blas>  NumPy's BLAS (OpenBLAS in the PyPI wheels)

XLA:CPU's oneDNN fusion (`xla_cpu_experimental_onednn_fusion_type=...DOT` with
`xla_cpu_use_onednn`) is not probed: in jaxlib 0.10.2 it dies with SIGILL on an AVX-512 Zen 5,
so it cannot be tried in the benchmark's process. The figures say which library won; XLA's own
rate is kept beside the best, so that "MFU against XLA's GEMM" stays readable too.

Figures (2-core AMD EPYC Zen 5 with AVX-512, jaxlib 0.10.2, n = 2048): xla 433, xla_ynnpack 464,
numpy (OpenBLAS, Haswell kernels) 249 GFLOP/s; PyTorch 2.13's GEMM (oneDNN/MKL) in the twin's
venv about the same as xla_ynnpack.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

# Dense bf16 peak FLOP/s per chip, for MFU on accelerators.
DEVICE_PEAK_FLOPS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA H100 80GB HBM3": 989e12,
    "NVIDIA H200": 989e12,
}

YNNPACK_DOT = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def best_rate(product: Callable[[], object], flops: float, repeats: int) -> float:
    """FLOP/s of the fastest of `repeats` calls of `product` (after one warm-up call)."""
    product()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return flops / best


def numpy_blas_name() -> str:
    """The BLAS NumPy was built with, e.g. "scipy-openblas"; "blas" when NumPy does not say."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except (KeyError, TypeError, ValueError):
        return "blas"


def cpu_gemm_rates(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """{library: float32 GEMM FLOP/s} for each library of the module docstring."""
    flops = 2.0 * n**3
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    rates = {}
    lowered = jax.jit(jnp.matmul).lower(a, b)
    xla = lowered.compile()
    rates["xla"] = best_rate(lambda: xla(a, b).block_until_ready(), flops, repeats)
    try:
        ynn = lowered.compile(compiler_options=YNNPACK_DOT)
        if "__ynn" in ynn.as_text():
            rates["xla_ynnpack"] = best_rate(lambda: ynn(a, b).block_until_ready(), flops, repeats)
    except Exception:  # noqa: BLE001 - a jaxlib without YNNPACK: that library is just absent
        pass
    a_np, b_np = np.asarray(a), np.asarray(b)
    rates[f"numpy_{numpy_blas_name()}"] = best_rate(lambda: a_np @ b_np, flops, repeats)
    return rates


def peak_flops(n: int = 2048, repeats: int = 5) -> dict[str, object]:
    """{"peak_flops", "peak_flops_source", "peak_flops_xla", "gemm_rates"} for this backend.

    On CPU: the best of `cpu_gemm_rates` and its library; "peak_flops_xla" is XLA's own rate.
    Elsewhere: the table's peak times the device count (NaN for an unknown device).
    """
    if jax.default_backend() == "cpu":
        rates = cpu_gemm_rates(n, repeats)
        best = max(rates, key=rates.get)
        return {
            "peak_flops": rates[best],
            "peak_flops_source": f"{best} float32 GEMM {n}^3 (best of {', '.join(rates)})",
            "peak_flops_xla": rates["xla"],
            "gemm_rates": rates,
        }
    kind = jax.devices()[0].device_kind
    for name, flops in DEVICE_PEAK_FLOPS.items():
        if kind.startswith(name):
            peak = flops * jax.device_count()
            source = f"table: {name} x {jax.device_count()}"
            return {"peak_flops": peak, "peak_flops_source": source, "peak_flops_xla": peak}
    nan = float("nan")
    return {
        "peak_flops": nan,
        "peak_flops_source": f"unknown device {kind!r}",
        "peak_flops_xla": nan,
    }
