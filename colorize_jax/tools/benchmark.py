"""Training speed: one JSON line of throughput, FLOPs and MFU, the input pipeline's rate, and
optionally the PyTorch twin's speed measured alternately in the same run.

  python -m colorize_jax.tools.benchmark --config=configs/bench_unet.py [--config.key=value]
      [--steps=10] [--rounds=3] [--torch_python=VENV/bin/python [--twin=effnet_unet]]

Fields: compile_s (the jitted train step), step_s (median), images_per_second, flops_per_step
(XLA's cost analysis of the compiled step), achieved_flops, peak_flops and its source (on CPU
the best float32 GEMM rate among XLA, XLA+YNNPACK and NumPy's BLAS, measured in this run; a table
of device peaks on GPU/TPU; see `peak_flops`), mfu against it, peak_flops_xla and mfu_xla
(against XLA's own GEMM), gemm_gflops (every library's rate), pipeline_images_per_second
(the configured source and workers, without training), pipeline_margin (pipeline rate /
training rate: 1 means training would wait for data). With --torch_python, the PyTorch twin of
the config's model (`TWINS`: ../shared/bench/torch_unet_twin.py for configs/bench_unet.py,
torch_effnet_unet_twin.py for configs/bench_effnet_unet.py; --twin or --torch_script choose
another; --twin_channels_last its channels-last mode) runs `--steps` steps between each of our
--rounds; torch_images_per_second and ratio (ours / twin's) are medians of rounds, torch_mfu the
twin's MFU (our FLOPs per step: the networks are the same) against the same peak.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from colorize_jax import data
from colorize_jax.components import builder, defaults
from colorize_jax.runtime import cli, sharding
from colorize_jax.runtime import cpu as cpu_runtime
from colorize_jax.tools import peak_flops
from colorize_jax.training import schemes

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags; defined when run as a program, so that importing is free."""
    config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/bench_unet.py.")
    flags.DEFINE_integer("steps", 10, "Timed train steps per round (after 2 warm-up steps).")
    flags.DEFINE_integer(
        "rounds", 3, "Rounds of ours (and the twin's) steps; medians are reported."
    )
    flags.DEFINE_integer(
        "pipeline_batches", 30, "Batches read to time the input pipeline (0: skip)."
    )
    flags.DEFINE_string("torch_python", None, "Python of a venv with torch==2.13.0: runs the twin.")
    flags.DEFINE_string(
        "twin", None, f"PyTorch twin: {', '.join(TWINS)} (default: by config.model.name)."
    )
    flags.DEFINE_string("torch_script", None, "Path of the twin's script (default: TWINS').")
    flags.DEFINE_bool("twin_channels_last", False, "Run the twin in its channels-last mode.")
    flags.mark_flag_as_required("config")


def compiled_train_step(config, mesh):
    """(compiled step, state, batch, compile seconds, FLOPs per step) on a synthetic batch, for
    a complete `config`."""
    components = builder.build(config)
    state = schemes.create_train_state(components, jax.random.key(config.seed), mesh)
    size = config.data.image_size
    rng = np.random.default_rng(0)
    local = sharding.process_batch_size(config.per_device_batch_size, mesh)
    batch = sharding.to_global_arrays(
        {
            "image": rng.integers(0, 256, (local, size, size, 3), dtype=np.uint8),
            "num_skipped": np.zeros((local,), np.int32),
        },
        mesh,
    )
    step_fn = jax.jit(
        schemes.make_step_fn(components),
        in_shardings=(sharding.replicated(mesh), sharding.batch_sharded(mesh)),
        out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
        donate_argnums=0,
    )
    start = time.perf_counter()
    compiled = step_fn.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return compiled, state, batch, compile_s, float(cost.get("flops", float("nan")))


def time_steps(compiled, state, batch, steps: int):
    """(state, per-step seconds) of `steps` steps, each waited for."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return state, times


def pipeline_rate(config, batches: int) -> float:
    """Images/s of the configured training pipeline alone (after its first batch)."""
    batch_size = config.per_device_batch_size * jax.local_device_count()
    iterator = data.create_train_iterator(config, batch_size=batch_size)
    next(iterator)  # starts the workers
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


# Twin name -> (its script in ../shared/bench, its network's flags from our config).
TWINS = {
    "unet": (
        "torch_unet_twin.py",
        lambda model: [f"--base={model.base_width}", f"--depth={model.depth}"],
    ),
    "effnet_unet": ("torch_effnet_unet_twin.py", lambda model: []),
}
SHARED_BENCH = "../shared/bench"


def twin_name(config) -> str:
    """--twin, else the twin of the config's model; a clear error when there is none."""
    name = FLAGS.twin or config.model.name
    if name not in TWINS:
        raise ValueError(f"no PyTorch twin {name!r}: use --twin= one of {', '.join(TWINS)}")
    return name


def twin_script(config) -> str:
    """--torch_script, else the script of `twin_name` in ../shared/bench."""
    return FLAGS.torch_script or os.path.join(SHARED_BENCH, TWINS[twin_name(config)][0])


def torch_twin(config, steps: int) -> dict:
    """One run of the PyTorch twin with this config's batch, size (and width and depth)."""
    command = [
        FLAGS.torch_python,
        twin_script(config),
        f"--batch={config.per_device_batch_size * jax.device_count()}",
        f"--size={config.data.image_size}",
        *TWINS[twin_name(config)][1](config.model),
        f"--steps={steps}",
        *(["--channels_last"] if FLAGS.twin_channels_last else []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def describe(model) -> str:
    """The benchmarked network in a few words."""
    if model.name == "effnet_unet":
        return f"effnet_unet {model.variant} decoder {tuple(model.decoder_widths)}"
    return f"{model.name} base {model.get('base_width')} depth {model.get('depth')}"


def measure(config) -> dict:
    """The benchmark's figures (see the module docstring) for the config file's `config`."""
    config = defaults.complete(config)
    mesh = sharding.create_mesh()
    compiled, state, batch, compile_s, flops = compiled_train_step(config, mesh)
    state, _ = time_steps(compiled, state, batch, 2)  # warm-up
    ours, twins = [], []
    for _ in range(FLAGS.rounds):
        state, times = time_steps(compiled, state, batch, FLAGS.steps)
        ours.append(statistics.median(times))
        if FLAGS.torch_python:
            twins.append(torch_twin(config, FLAGS.steps))
    step_s = statistics.median(ours)
    images = config.per_device_batch_size * jax.device_count()
    peak = peak_flops.peak_flops()
    result = {
        "config": f"{describe(config.model)}, batch {images} x {config.data.image_size}px, "
        f"{config.model.get('dtype', 'float32')}",
        "backend": jax.default_backend(),
        "cpu": cpu_runtime.describe_cpu(),
        "devices": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compile_s": round(compile_s, 2),
        "step_s": round(step_s, 4),
        "step_s_rounds": [round(s, 4) for s in ours],
        "images_per_second": round(images / step_s, 2),
        "flops_per_step": flops,
        "achieved_flops": round(flops / step_s),
        "peak_flops": round(peak["peak_flops"]),
        "peak_flops_source": peak["peak_flops_source"],
        "mfu": round(flops / step_s / peak["peak_flops"], 4),
        "peak_flops_xla": round(peak["peak_flops_xla"]),
        "mfu_xla": round(flops / step_s / peak["peak_flops_xla"], 4),
    }
    if "gemm_rates" in peak:
        result["gemm_gflops"] = {k: round(v / 1e9, 1) for k, v in peak["gemm_rates"].items()}
    if FLAGS.pipeline_batches:
        rate = pipeline_rate(config, FLAGS.pipeline_batches)
        result["pipeline_images_per_second"] = round(rate, 1)
        result["pipeline_margin"] = round(rate / result["images_per_second"], 2)
    if twins:
        twin_rates = [t["images_per_second"] for t in twins]
        result["twin"] = twin_name(config) + (" channels_last" if FLAGS.twin_channels_last else "")
        result["torch_version"] = twins[0]["framework"]
        result["torch_params"] = twins[0]["params"]
        result["torch_images_per_second"] = round(statistics.median(twin_rates), 2)
        result["torch_images_per_second_rounds"] = [round(r, 2) for r in twin_rates]
        result["torch_mfu"] = round(
            flops * statistics.median(twin_rates) / images / peak["peak_flops"], 4
        )
        result["ratio"] = round(
            statistics.median(images / s / r for s, r in zip(ours, twin_rates, strict=True)), 3
        )
    result["params"] = int(sum(np.size(x) for x in jax.tree.leaves(state.generator.params)))
    return result


def main(argv: list[str]) -> None:
    if FLAGS.torch_python and not os.path.exists(twin_script(FLAGS.config)):
        raise FileNotFoundError(
            f"the twin's script {twin_script(FLAGS.config)} was not found; give --torch_script"
        )
    print(json.dumps(measure(FLAGS.config)), flush=True)


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-benchmark`)."""
    cli.run(main, "colorize_jax.tools.benchmark", define_flags=define_flags, config_flag=True)


if __name__ == "__main__":
    run()
