"""Adversarial training on 1 and on 8 devices at the same global batch gives the same run."""

from __future__ import annotations

import numpy as np

from tests.tiny_training import train_in_subprocess


def test_gan_one_and_eight_devices_agree_at_the_same_global_batch(tmp_path):
    one = train_in_subprocess(
        tmp_path / "one", devices=1, per_device_batch=8, args=["experiment=pix2pix_lab"]
    )
    eight = train_in_subprocess(
        tmp_path / "eight", devices=8, per_device_batch=1, args=["experiment=pix2pix_lab"]
    )
    for key in ("train/loss", "train/loss_discriminator", "train/d_real", "train/d_fake"):
        values_one = [one[step][key] for step in (1, 2, 3, 4)]
        values_eight = [eight[step][key] for step in (1, 2, 3, 4)]
        np.testing.assert_allclose(values_one, values_eight, rtol=2e-4, atol=1e-6, err_msg=key)
    assert one[1]["train/loss_discriminator"] != one[4]["train/loss_discriminator"]
