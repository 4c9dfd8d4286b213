"""Settings the project makes for fast CPU runs, applied when `colorize_jax` is imported.

Both must take effect before JAX starts its CPU backend (XLA reads `XLA_FLAGS` once, and the
allocator settings must precede the allocations of XLA's threads), so a program that runs JAX
computations before importing colorize_jax keeps the defaults. Figures are from
`python -m colorize_jax.benchmark --config=configs/bench_unet.py` on a 2-core AMD EPYC with
jaxlib 0.10.2 (train step of the U-Net twin, batch 16 x 64 px, float32).

XLA flags (`XLA_FLAGS`; a flag the user already set is left alone):

  --xla_cpu_experimental_ynn_fusion_type=   (empty: no YNNPACK fusions)
      XLA:CPU hands dots, and the convolutions it rewrites into dots, to YNNPACK by default.
      For convolutional networks (long contractions over pixels, few channels) YNNPACK was
      1.5-4x slower than XLA's Eigen kernels: a 3x3 conv's weight gradient on 16x64x64x32 took
      45 ms with it and 12 ms without; the train step 1.02 s and 0.70 s. The flag touches CPU
      compilation only. Added only for jaxlib versions known to accept it (XLA aborts on an
      unknown flag).

glibc malloc (`mallopt`), only when JAX will run on the CPU (no GPU/TPU plugin installed, or
`JAX_PLATFORMS` starting with "cpu"), and not when `COLORIZE_JAX_DEFAULT_MALLOC=1`:

  one arena, no mmap for large blocks, no trimming
      XLA:CPU allocates each step's temporaries as a few blocks of 40-200 MB. glibc serves
      blocks that large with a fresh mmap and returns them at free, so every step faulted in
      ~200 MB of zeroed pages again (50,000 page faults per step). Kept in one heap, the
      blocks are reused: 4x fewer faults and a step of 0.62 s -> 0.56 s; the process holds
      its peak memory instead of returning it to the system between steps.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
from collections.abc import MutableMapping

# (flag, value, oldest jaxlib (major, minor) known to accept it)
XLA_CPU_FLAGS = (("--xla_cpu_experimental_ynn_fusion_type", "", (0, 10)),)

# glibc mallopt parameters (malloc.h) and the values set.
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
MALLOC_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm_plugin", "libtpu")


def _jaxlib_version() -> tuple[int, int]:
    try:
        from jaxlib import version
    except ImportError:
        return (0, 0)
    major, minor = version.__version__.split(".")[:2]
    return int(major), int(minor)


def apply_xla_flags(environ: MutableMapping[str, str] | None = None) -> str:
    """Appends the `XLA_CPU_FLAGS` missing from `environ["XLA_FLAGS"]`; returns the new value."""
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    present = {item.split("=", 1)[0] for item in flags.split()}
    jaxlib_version = _jaxlib_version()
    added = [
        f"{name}={value}"
        for name, value, since in XLA_CPU_FLAGS
        if name not in present and jaxlib_version >= since
    ]
    if added:
        flags = " ".join([flags, *added]).strip()
        environ["XLA_FLAGS"] = flags
    return flags


def runs_on_cpu(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether JAX will pick its CPU backend: JAX_PLATFORMS says cpu, or no accelerator plugin."""
    environ = os.environ if environ is None else environ
    platforms = environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    return not any(importlib.util.find_spec(name) for name in ACCELERATOR_PLUGINS)


def tune_malloc(environ: MutableMapping[str, str] | None = None) -> bool:
    """Applies `MALLOC_SETTINGS` on glibc for CPU runs; returns whether it did (see above)."""
    environ = os.environ if environ is None else environ
    if environ.get("COLORIZE_JAX_DEFAULT_MALLOC") == "1" or not runs_on_cpu(environ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return all(mallopt(param, value) == 1 for param, value in MALLOC_SETTINGS)


def apply_defaults() -> None:
    """Both settings (see the module docstring)."""
    apply_xla_flags()
    tune_malloc()
