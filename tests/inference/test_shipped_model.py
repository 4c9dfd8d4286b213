"""The colorizer that ships in the package: present, documented, and better than no colour on
photos it never trained on (scikit-image's, outside imagenette's classes)."""

import json
import os

import numpy as np
import skimage.data

from colorize_jax.evaluation import photo_scores
from colorize_jax.inference.full_resolution import Colorizer
from colorize_jax.models import shipped


def test_the_default_model_ships_with_its_card_config_and_small_weights():
    assert shipped.DEFAULT_MODEL in shipped.names()
    directory = shipped.model_dir(shipped.DEFAULT_MODEL)
    assert os.path.getsize(os.path.join(directory, shipped.WEIGHTS_FILE)) <= 12 * 2**20
    card = open(os.path.join(directory, shipped.CARD_FILE)).read()
    for needed in ("imagenette", "research", "imagenet1k_sample", "PSNR", "vivid"):
        assert needed in card, needed
    described = json.load(open(os.path.join(directory, shipped.MODEL_FILE)))
    assert described["config"]["model"]["name"] and described["step"] > 0


def test_the_shipped_model_beats_no_colour_on_scikit_images_photos():
    colorizer = Colorizer.pretrained()
    model = photo_scores.evaluate_photos(lambda rgb: colorizer.colorize_batch([rgb])[0], "skimage")
    gray = photo_scores.evaluate_photos(photo_scores.no_colour, "skimage")
    assert model["num_images"] == gray["num_images"] == 6
    assert model["psnr"] > gray["psnr"], (model["psnr"], gray["psnr"])
    assert model["deltae2000"] < gray["deltae2000"], (model["deltae2000"], gray["deltae2000"])
    assert model["colorfulness"] > gray["colorfulness"] + 5


def test_vivid_is_more_colourful_and_keeps_the_lightness():
    image = skimage.data.coffee()
    default = Colorizer.pretrained().colorize(image)
    vivid = Colorizer.pretrained(vivid=True).colorize(image)
    assert vivid.shape == default.shape == image.shape
    chroma = [
        np.hypot(*skimage.color.rgb2lab(x)[..., 1:].transpose(2, 0, 1)).mean()
        for x in (default, vivid)
    ]
    assert chroma[1] > chroma[0] * 1.2
    lightness = [skimage.color.rgb2lab(x)[..., 0] for x in (image, vivid)]
    assert np.abs(lightness[0] - lightness[1]).mean() < 0.5


def test_colorize_without_a_workdir_uses_the_shipped_model(tmp_path):
    from PIL import Image

    from tests.inference.test_colorize import run_cli

    Image.fromarray(skimage.data.astronaut()[::2, ::2]).convert("L").save(tmp_path / "old.png")
    out = tmp_path / "out"
    done = run_cli(str(tmp_path / "old.png"), f"--output_dir={out}", cache_dir=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    colorized = np.asarray(Image.open(out / "old.png"))
    assert colorized.shape == (256, 256, 3)
    assert np.abs(np.diff(colorized.astype(int), axis=-1)).mean() > 2  # colour appeared
    wrong = run_cli(
        str(tmp_path / "old.png"), f"--output_dir={out}", "--model=nope", cache_dir=tmp_path / "c"
    )
    assert wrong.returncode != 0
    assert "no shipped model 'nope'" in wrong.stderr.strip().splitlines()[-1]
