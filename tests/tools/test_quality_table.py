"""quality_table and its parts: rows, variant lines, photo lines, sheet columns, markdown."""

import json
import os
import subprocess
import sys

import pytest
from absl import app

from colorize_jax.tools import (
    quality_baseline,
    quality_photos,
    quality_report,
    quality_rows,
    quality_runs,
    quality_sheet,
    quality_table,
)


@pytest.fixture()
def table_flags(tmp_path):
    if "sheet_size" not in quality_table.FLAGS:
        quality_table.define_flags()
    quality_table.FLAGS(["quality_table", "--source=demo", f"--out={tmp_path}", "--steps=7"])
    yield tmp_path
    quality_table.FLAGS.unparse_flags()


def write_run(workdir, metrics, *, step=7, params=1000, speeds=(4.0, 6.0)):
    os.makedirs(os.path.join(workdir, "eval"), exist_ok=True)
    with open(os.path.join(workdir, "eval", "metrics.json"), "w") as f:
        json.dump({**metrics, "step": step}, f)
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.write(json.dumps({"step": 0, "model/num_params": params}) + "\n")
        for speed in speeds:
            f.write(json.dumps({"step": 1, "train/images_per_second": speed}) + "\n")
    with open(os.path.join(workdir, "table_timing.json"), "w") as f:
        json.dump({"minutes": 2.5}, f)


def metrics(psnr):
    keys = [key for _, key, _ in quality_report.COLUMNS if key != "colorfulness_gap"]
    return {key: psnr if key == "psnr" else 0.5 for key in keys} | {"colorfulness": 30.0}


def test_rows_have_distinct_workdirs_and_variants_drop_the_default_decode():
    names = [quality_runs.workdir_name(row) for row in quality_rows.ROWS]
    assert len(set(names)) == len(names)
    assert quality_runs.variant_base("unet_lab_classify T=0.38") == "unet_lab_classify"
    assert quality_runs.variant_base("unet_lab") == "unet_lab"


def test_finished_rows_and_variants_are_reused_and_tabulated(table_flags, monkeypatch):
    row = quality_rows.Row("toy T=0.38", "configs/unet_lab.py", variants=(("T=1.0", {"x": "1"}),))
    workdir = os.path.join(table_flags, quality_runs.workdir_name(row))
    write_run(workdir, metrics(21.0))
    variant_dir = os.path.join(workdir, "variants", "T_1_0")
    os.makedirs(variant_dir)
    with open(os.path.join(variant_dir, "metrics.json"), "w") as f:
        json.dump({**metrics(23.0), "step": 7}, f)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("reran"))

    lines = quality_runs.run_row(row)

    assert list(lines) == ["toy T=0.38", "toy T=1.0"]
    assert lines["toy T=1.0"]["psnr"] == 23.0 and lines["toy T=1.0"]["params"] == 1000
    assert lines["toy T=1.0"]["colorfulness_gap"] == 29.5  # |30 - 0.5|, of the means
    table = quality_report.markdown(lines).splitlines()
    assert table[2].startswith("| toy T=0.38 | 0.00M | 5.0 | 2.5 | 21.00 |")
    assert table[3].startswith("| toy T=1.0 | 0.00M | 5.0 | 2.5 | 23.00 |")


def test_a_run_of_another_budget_is_not_reused(table_flags):
    row = quality_rows.Row("toy", "configs/unet_lab.py")
    workdir = os.path.join(table_flags, "toy")
    write_run(workdir, metrics(21.0), step=5)
    assert not quality_runs.finished(workdir)
    command = quality_runs.command(row, workdir)
    assert command[:3] == [sys.executable, "-m", "colorize_jax.main"]
    assert "--config.num_train_steps=7" in command


def write_photos(output_dir, psnr, *, step=7, photos="skimage"):
    os.makedirs(output_dir, exist_ok=True)
    results = {**metrics(psnr), "step": step, "photos": photos, "num_images": 2}
    with open(os.path.join(output_dir, "photos_metrics.json"), "w") as f:
        json.dump(results | {"names": ["astronaut.png", "coffee.png"]}, f)


def test_photo_lines_are_reused_and_tabulated_without_speeds(table_flags, monkeypatch):
    row = quality_rows.Row("toy T=0.38", "configs/unet_lab.py", variants=(("T=1.0", {"x": "1"}),))
    workdir = os.path.join(table_flags, quality_runs.workdir_name(row))
    write_run(workdir, metrics(21.0))
    write_photos(os.path.join(workdir, "eval_photos"), 18.0)
    write_photos(os.path.join(workdir, "variants", "T_1_0", "photos"), 19.0)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("reran"))

    lines = quality_photos.run_row_photos(row)

    assert list(lines) == ["toy T=0.38", "toy T=1.0"]
    assert lines["toy T=1.0"]["psnr"] == 19.0 and lines["toy T=1.0"]["colorfulness_gap"] == 29.5
    table = quality_photos.photos_markdown(lines).splitlines()
    assert "--photos=skimage: 2 colour photos, astronaut, coffee" in table[0]
    assert table[2].startswith("| config | params | PSNR | SSIM | ΔE2000 | CF | CF truth | ΔCF |")
    assert table[4].startswith("| toy T=0.38 | 0.00M | 18.00 | 0.500 |")
    assert table[5].startswith("| toy T=1.0 | 0.00M | 19.00 |")


def test_missing_photo_lines_run_evaluate_photos_or_stay_out(table_flags, monkeypatch):
    row = quality_rows.Row("toy", "configs/unet_lab.py")
    workdir = os.path.join(table_flags, "toy")
    write_run(workdir, metrics(21.0))
    write_photos(os.path.join(workdir, "eval_photos"), 18.0, step=5)  # another budget
    write_photos(os.path.join(workdir, "eval_photos"), 18.0, photos="other")  # other photos
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        (output_dir,) = [arg.split("=", 1)[1] for arg in command if arg.startswith("--output_dir")]
        write_photos(output_dir, 17.0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert quality_photos.run_row_photos(row, compute=False) == {}
    lines = quality_photos.run_row_photos(row)

    assert lines["toy"]["psnr"] == 17.0
    (command,) = commands
    assert command[:3] == [sys.executable, "-m", "colorize_jax.evaluate"]
    assert f"--output_dir={os.path.join(workdir, 'eval_photos')}" in command
    assert "--step=7" in command and command[-1] == "--photos=skimage"


def test_the_photos_table_is_written_unless_photos_is_empty(table_flags, monkeypatch):
    row = quality_rows.Row("toy", "configs/unet_lab.py")
    workdir = os.path.join(table_flags, "toy")
    write_run(workdir, metrics(21.0))
    write_photos(os.path.join(workdir, "eval_photos"), 18.0)
    monkeypatch.setattr(quality_table, "ROWS", (row,))
    monkeypatch.setattr(quality_table, "write_sheet", lambda *a: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("reran"))

    quality_table.main(["quality_table"])
    photos_table = open(os.path.join(table_flags, "table_photos.md")).read()
    assert "| toy | 0.00M | 18.00 |" in photos_table
    os.remove(os.path.join(table_flags, "table_photos.md"))
    quality_table.FLAGS.photos = ""
    quality_table.main(["quality_table"])
    assert os.path.exists(os.path.join(table_flags, "table.md"))
    assert not os.path.exists(os.path.join(table_flags, "table_photos.md"))


def test_the_no_colour_line_scores_the_photos_lightness_in_process(table_flags, monkeypatch):
    import numpy as np
    from PIL import Image
    from skimage import color
    from skimage import metrics as skimage_metrics

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (24, 40, 3)).astype(np.uint8)
    Image.fromarray(photo).save(table_flags / "photo.png")
    quality_table.FLAGS.photos = str(table_flags / "photo.png")
    row = quality_rows.Row("no colour", "configs/unet_lab.py", no_colour=True)
    write_run(os.path.join(table_flags, "no_colour"), metrics(21.0), params=0)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran"))

    lines = quality_photos.run_row_photos(row)

    lab = color.rgb2lab(photo)
    lab[..., 1:] = 0
    gray = np.clip(np.round(color.lab2rgb(lab) * 255), 0, 255).astype(np.uint8)
    expected = skimage_metrics.peak_signal_noise_ratio(photo, gray)
    np.testing.assert_allclose(lines["no colour"]["psnr"], expected, rtol=2e-3)
    assert lines["no colour"]["colorfulness"] < 1.0
    assert quality_photos.photos_markdown(lines).splitlines()[-1].startswith("| no colour | 0 |")


def test_sheet_workdirs_add_columns_with_their_overrides(table_flags):
    quality_table.FLAGS.sheet_workdir = ["long run x1.6=runs/long,decode_chroma_gain=1.6"]
    columns = quality_sheet.sheet_columns({})
    assert columns == {"long run x1.6": ("runs/long", {"decode_chroma_gain": "1.6"}, None)}
    quality_table.FLAGS.sheet_workdir = ["no directory"]
    with pytest.raises(app.UsageError, match="TITLE=DIR"):
        quality_sheet.sheet_columns({})


def test_a_row_evaluated_without_the_pretrained_metrics_is_evaluated_again(
    table_flags, monkeypatch
):
    row = quality_rows.Row("toy", "configs/unet_lab.py", variants=(("T=1.0", {"x": "1"}),))
    workdir = os.path.join(table_flags, "toy")
    old = {k: v for k, v in metrics(21.0).items() if k not in quality_report.PERCEPTUAL_KEYS}
    write_run(workdir, old)
    assert quality_runs.finished(workdir)  # trained: not to be trained again
    assert not quality_runs.evaluated(os.path.join(workdir, "eval"))
    commands = []

    def evaluate(cmd, **kwargs):
        commands.append(cmd)
        output_dir = next(a for a in cmd if a.startswith("--output_dir=")).split("=", 1)[1]
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "metrics.json"), "w") as f:
            json.dump({**metrics(22.0), "step": 7}, f)

    monkeypatch.setattr(subprocess, "run", evaluate)
    lines = quality_runs.run_row(row)
    assert [cmd[2] for cmd in commands] == ["colorize_jax.evaluate"] * 2
    assert f"--output_dir={os.path.join(workdir, 'eval')}" in commands[0]
    assert lines["toy"]["lpips_alex"] == 0.5 and lines["toy"]["psnr"] == 22.0
    assert json.load(open(os.path.join(workdir, "table_timing.json")))["minutes"] == 2.5
    # Lines without a metric show "-"; a metric no line has is left out of the table.
    lines["toy"].pop("fd_effnet")
    table = quality_report.markdown(lines).splitlines()
    assert "| FD effnet |" in table[0] and table[2].split(" | ")[-3] == "-"
    lines["toy T=1.0"].pop("fd_effnet")
    assert "FD effnet" not in quality_report.markdown(lines)


def test_the_pretrained_metric_keys_are_the_evaluations():
    from colorize_jax.evaluation import pretrained_metrics

    assert set(quality_report.PERCEPTUAL_KEYS) == set(pretrained_metrics.KEYS)
    names = {key for _, key, _ in quality_report.COLUMNS}
    assert set(pretrained_metrics.KEYS) <= names


def test_the_no_colour_network_predicts_zero_ab_through_jit():
    import jax
    import numpy as np

    network = quality_baseline.NoColourNetwork()
    inputs = np.linspace(-1, 1, 2 * 3 * 5).reshape(2, 3, 5, 1).astype(np.float32)
    ab = jax.jit(lambda net, x: net.apply_fn(net.variables, x, train=False))(network, inputs)
    assert ab.shape == (2, 3, 5, 2) and ab.dtype == np.float32 and not np.any(ab)
    assert jax.tree_util.tree_leaves(network) == []
    assert network.head.space == "lab" and network.head.num_classes == 0
    np.testing.assert_array_equal(network.head.predict(ab), np.zeros((2, 3, 5, 2)))
