"""quality_table: row naming, variant lines and the markdown table, on synthetic results."""

import json
import os
import sys

import pytest

from colorize_jax import quality_table


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
    keys = [key for _, key, _ in quality_table.COLUMNS if key != "colorfulness_gap"]
    return {key: psnr if key == "psnr" else 0.5 for key in keys} | {"colorfulness": 30.0}


def test_rows_have_distinct_workdirs_and_variants_drop_the_default_decode():
    names = [quality_table.workdir_name(row) for row in quality_table.ROWS]
    assert len(set(names)) == len(names)
    assert quality_table.variant_base("unet_lab_classify T=0.38") == "unet_lab_classify"
    assert quality_table.variant_base("unet_lab") == "unet_lab"


def test_finished_rows_and_variants_are_reused_and_tabulated(table_flags, monkeypatch):
    row = quality_table.Row("toy T=0.38", "configs/unet_lab.py", variants=(("T=1.0", {"x": "1"}),))
    workdir = os.path.join(table_flags, quality_table.workdir_name(row))
    write_run(workdir, metrics(21.0))
    variant_dir = os.path.join(workdir, "variants", "T_1_0")
    os.makedirs(variant_dir)
    with open(os.path.join(variant_dir, "metrics.json"), "w") as f:
        json.dump({**metrics(23.0), "step": 7}, f)
    monkeypatch.setattr(quality_table.subprocess, "run", lambda *a, **k: pytest.fail("reran"))

    lines = quality_table.run_row(row)

    assert list(lines) == ["toy T=0.38", "toy T=1.0"]
    assert lines["toy T=1.0"]["psnr"] == 23.0 and lines["toy T=1.0"]["params"] == 1000
    assert lines["toy T=1.0"]["colorfulness_gap"] == 29.5  # |30 - 0.5|, of the means
    table = quality_table.markdown(lines).splitlines()
    assert table[2].startswith("| toy T=0.38 | 0.00M | 5.0 | 2.5 | 21.00 |")
    assert table[3].startswith("| toy T=1.0 | 0.00M | 5.0 | 2.5 | 23.00 |")


def test_a_run_of_another_budget_is_not_reused(table_flags):
    row = quality_table.Row("toy", "configs/unet_lab.py")
    workdir = os.path.join(table_flags, "toy")
    write_run(workdir, metrics(21.0), step=5)
    assert not quality_table.finished(workdir)
    command = quality_table.command(row, workdir)
    assert command[:3] == [sys.executable, "-m", "colorize_jax.main"]
    assert "--config.num_train_steps=7" in command
