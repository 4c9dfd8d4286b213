"""benchmark: the bench config is the twin's network; the figures are computed, not timed here."""

import time

import jax
import numpy as np
import pytest

from colorize_jax.components import builder
from colorize_jax.runtime import sharding
from colorize_jax.tools import benchmark, peak_flops
from configs import bench_unet
from tests.tiny_training import tiny_config


def twin_parameter_count(base: int, depth: int) -> int:
    """Parameters of ../shared/bench/torch_unet_twin.py's UNet, counted by hand."""

    def block(cin, cout):  # two bias-free 3x3 convs, each with BatchNorm (scale + shift)
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout

    widths = [base * 2**i for i in range(depth)]
    total, channels = 0, 1
    for width in widths:
        total += block(channels, width)
        channels = width
    total += block(channels, base * 2**depth)
    channels = base * 2**depth
    for width in reversed(widths):
        total += 4 * channels * width + width  # 2x2 transposed conv with bias
        total += block(2 * width, width)
        channels = width
    return total + channels * 2 + 2  # 1x1 head with bias


def test_bench_config_builds_the_twins_network():
    config = bench_unet.get_config()
    model = builder.build_generator(config)[0]
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), np.zeros((1, 64, 64, 1), np.float32), train=False)
    )
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))
    assert params == twin_parameter_count(32, 4) == 7_762_498
    assert config.per_device_batch_size == 16 and config.data.image_size == 64
    assert {k: v for k, v in config.losses.items() if v} == {"l1": 1.0}
    assert config.optimizer.weight_decay == 0 and config.optimizer.grad_clip_norm == 0
    with pytest.raises(ValueError, match="unknown preset"):
        bench_unet.get_config("laptop")


def test_flops_of_the_compiled_step_match_a_hand_count_of_the_convolutions():
    config = tiny_config(per_device_batch_size=2)
    mesh = sharding.create_mesh()
    _, _, _, compile_s, flops = benchmark.compiled_train_step(config, mesh)
    # Forward multiply-adds of the tiny U-Net's convolutions (depth 2, width 8, 32 px, batch 2):
    # a training step costs about three forward passes (forward, input and weight gradients).
    n, s, w = 2, 32, 8

    def conv(size, cin, cout, k=3):  # at output size; a 2x2 transposed conv: k=2 at input size
        return 2 * n * size * size * k * k * cin * cout

    forward = (
        conv(s, 1, w) + conv(s, w, w)  # level 0
        + conv(s // 2, w, 2 * w) + conv(s // 2, 2 * w, 2 * w)  # level 1
        + conv(s // 4, 2 * w, 4 * w) + conv(s // 4, 4 * w, 4 * w)  # bottleneck
        + conv(s // 4, 4 * w, 2 * w, k=2) + conv(s // 2, 4 * w, 2 * w) + conv(s // 2, 2 * w, 2 * w)
        + conv(s // 2, 2 * w, w, k=2) + conv(s, 2 * w, w) + conv(s, w, w)
        + conv(s, w, 2, k=1)  # head
    )  # fmt: skip
    assert compile_s > 0
    assert 2.5 * forward < flops < 4.5 * forward


def test_cpu_peak_is_the_best_gemm_rate_and_names_its_library():
    rates = peak_flops.cpu_gemm_rates(n=256, repeats=3)
    assert "xla" in rates and any(name.startswith("numpy_") for name in rates)
    assert all(1e8 < rate < 1e14 for rate in rates.values())
    peak = peak_flops.peak_flops(n=256, repeats=3)
    best = peak["peak_flops_source"].split()[0]
    assert best in peak["gemm_rates"]
    assert peak["peak_flops"] == max(peak["gemm_rates"].values())
    assert peak["peak_flops_xla"] == peak["gemm_rates"]["xla"]


def test_gemm_rate_is_flops_over_the_fastest_call():
    calls = iter([0.0, 0.2, 0.1, 0.4])  # warm-up, then three timed calls

    def product():
        time.sleep(next(calls))

    rate = peak_flops.best_rate(product, flops=1e9, repeats=3)
    assert 0.8e10 < rate <= 1e10  # 1e9 FLOPs in ~0.1 s, sleep overshooting a little


def test_pipeline_rate_reads_real_batches():
    config = tiny_config()
    assert benchmark.pipeline_rate(config, batches=3) > 0


def test_effnet_bench_config_is_the_effnet_twins_network_and_picks_that_twin(monkeypatch):
    from configs import bench_effnet_unet

    config = bench_effnet_unet.get_config()
    model = builder.build_generator(config)[0]
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), np.zeros((1, 128, 128, 1), np.float32))
    )
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))
    assert params == 4_479_202  # ../shared/bench/torch_effnet_unet_twin.py's docstring
    assert config.per_device_batch_size == 16 and config.data.image_size == 128
    assert config.optimizer.weight_decay == 0 and config.optimizer.grad_clip_norm == 0

    fields = {"twin": None, "torch_script": None}
    monkeypatch.setattr(benchmark, "FLAGS", type("Flags", (), fields)())
    assert benchmark.twin_name(config) == "effnet_unet"
    assert benchmark.twin_script(config).endswith("torch_effnet_unet_twin.py")
    assert benchmark.twin_name(bench_unet.get_config()) == "unet"
    benchmark.FLAGS.twin = "resnet"
    with pytest.raises(ValueError, match="no PyTorch twin 'resnet'"):
        benchmark.twin_name(config)
