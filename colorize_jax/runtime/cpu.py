"""Settings the project makes for fast CPU runs, applied by the commands (`apply_defaults`).

Both must take effect before JAX starts its CPU backend (XLA reads `XLA_FLAGS` once, and the
allocator settings must precede the allocations of XLA's threads), so a program that runs JAX
computations before importing colorize_jax keeps the defaults. The best settings came out the
same on an AVX2 and an AVX-512 CPU, so they do not depend on the CPU's features; `describe_cpu`
names the CPU in the benchmark's output so that figures can be told apart.

XLA flags (`XLA_FLAGS`; a flag the user already set is left alone):

  --xla_cpu_experimental_ynn_fusion_type=   (empty: no YNNPACK fusions)
      For convolutional networks XLA's Eigen kernels were 1.5-4x faster than YNNPACK's. The
      flag touches CPU compilation only. Added only for jaxlib versions known to accept it
      (XLA aborts on an unknown flag).

glibc malloc (`mallopt`), only when JAX will run on the CPU (no GPU/TPU plugin installed, or
`JAX_PLATFORMS` starting with "cpu"), and not when `COLORIZE_JAX_DEFAULT_MALLOC=1`:

  one arena, no mmap for large blocks, no trimming
      XLA's 40-200 MB per-step blocks are reused instead of mapped afresh each step (4x fewer
      page faults); the process holds its peak memory instead of returning it between steps.

The benchmark figures behind both, and the options tried and not kept: docs/speed.md, section
"CPU settings (runtime/cpu.py)".
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


def describe_cpu(cpuinfo: str | None = None) -> str:
    """The CPU in a few words, e.g. "AMD EPYC (family 26 model 2) x2, avx512f avx512_bf16".

    From /proc/cpuinfo on Linux (`cpuinfo` overrides it, for tests): model name, family and
    model, logical CPUs usable by this process, and the vector extensions that decide which
    kernels run (AVX2, AVX-512, its BF16 and VNNI parts, AMX).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:
            return f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')} "
        f"model {fields.get('model', '?')}) x{count}, "
        + " ".join(flag for flag in wanted if flag in flags)
    ).strip()


def apply_defaults() -> None:
    """Both settings (see the module docstring)."""
    apply_xla_flags()
    tune_malloc()
