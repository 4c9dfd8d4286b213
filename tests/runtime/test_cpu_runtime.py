"""Tests of the CPU settings the commands make (`runtime.cpu.apply_defaults`), each in a fresh
process; importing the package alone changes nothing."""

import subprocess
import sys
import textwrap

import pytest

from colorize_jax.runtime import cpu as cpu_runtime

YNN = "--xla_cpu_experimental_ynn_fusion_type"


def test_flag_is_appended_once_and_a_users_own_value_wins(monkeypatch):
    monkeypatch.setattr(cpu_runtime, "_jaxlib_version", lambda: (0, 10))
    environ = {}
    assert cpu_runtime.apply_xla_flags(environ) == f"{YNN}="
    assert cpu_runtime.apply_xla_flags(environ) == f"{YNN}="  # not twice
    environ = {"XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {YNN}=individual_dot"}
    assert cpu_runtime.apply_xla_flags(environ) == environ["XLA_FLAGS"]
    assert environ["XLA_FLAGS"].count(YNN) == 1
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    cpu_runtime.apply_xla_flags(environ)
    assert environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=8 {YNN}="


def test_flag_is_not_given_to_jaxlib_versions_that_may_not_know_it(monkeypatch):
    monkeypatch.setattr(cpu_runtime, "_jaxlib_version", lambda: (0, 9))
    environ = {}
    assert cpu_runtime.apply_xla_flags(environ) == ""
    assert "XLA_FLAGS" not in environ


def test_runs_on_cpu_follows_jax_platforms():
    assert cpu_runtime.runs_on_cpu({"JAX_PLATFORMS": "cpu"})
    assert not cpu_runtime.runs_on_cpu({"JAX_PLATFORMS": "cuda,cpu"})
    assert not cpu_runtime.tune_malloc({"JAX_PLATFORMS": "tpu"})
    assert not cpu_runtime.tune_malloc({"JAX_PLATFORMS": "cpu", "COLORIZE_JAX_DEFAULT_MALLOC": "1"})


def _run(code: str, env_extra: dict | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env.update(env_extra or {})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


COMPILED_DOT = """
    import jax, jax.numpy as jnp
    a = jnp.ones((128, 128))
    print("__ynn_fusion" in jax.jit(jnp.matmul).lower(a, a).compile().as_text())
"""


APPLY = "from colorize_jax.runtime import cpu; cpu.apply_defaults()"


def test_the_defaults_turn_ynnpack_fusions_off_and_importing_alone_does_not():
    if cpu_runtime._jaxlib_version() < (0, 10):
        pytest.skip("this jaxlib is not given the flag")
    if _run(COMPILED_DOT) != "True":
        pytest.skip("this jaxlib does not use YNNPACK for dots: nothing to turn off")
    assert _run(APPLY + "\n" + textwrap.dedent(COMPILED_DOT)) == "False"
    assert _run("import colorize_jax.training.loop\n" + textwrap.dedent(COMPILED_DOT)) == "True"


MMAPPED_BLOCKS = """
    import ctypes, platform
    {setup}
    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    before = libc.mallinfo2().hblks
    block = libc.malloc(200 * 2**20)  # as large as XLA's per-step temporaries
    print(libc.mallinfo2().hblks - before)  # blocks mmapped for it
    libc.free(ctypes.c_void_p(block))
"""


def test_large_blocks_stay_in_the_heap_on_cpu():
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    cpu = {"JAX_PLATFORMS": "cpu"}
    assert _run(MMAPPED_BLOCKS.format(setup=""), cpu) == "1"  # glibc's default: an mmap
    assert _run(MMAPPED_BLOCKS.format(setup=APPLY), cpu) == "0"
    assert _run(MMAPPED_BLOCKS.format(setup="import colorize_jax.training.loop"), cpu) == "1"
    opt_out = {**cpu, "COLORIZE_JAX_DEFAULT_MALLOC": "1"}
    assert _run(MMAPPED_BLOCKS.format(setup=APPLY), opt_out) == "1"


def test_cpu_is_described_by_name_family_and_vector_extensions():
    cpuinfo = textwrap.dedent(
        """\
        processor\t: 0
        cpu family\t: 26
        model\t\t: 2
        model name\t: AMD EPYC
        flags\t\t: fpu sse avx2 avx512f avx512bw avx512_bf16 avx512_vnni
        processor\t: 1
        model name\t: ignored second entry
        """
    )
    described = cpu_runtime.describe_cpu(cpuinfo)
    assert described.startswith("AMD EPYC (family 26 model 2) x")
    assert described.endswith("avx2 avx512f avx512_bf16 avx512_vnni")
    assert "amx" not in described and "ignored" not in described
