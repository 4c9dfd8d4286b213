"""Tests of colorize_jax.lookup: the one "did you mean" for unknown names."""

from colorize_jax import lookup


def test_closest_names_best_first_and_none_when_nothing_is_close():
    choices = ["unet", "unet_small", "effnet_unet", "patchgan"]
    assert lookup.closest("unte", choices)[0] == "unet"
    assert lookup.closest("unet_smal", choices, n=1) == ["unet_small"]
    assert lookup.closest("resnet152", ["pixel", "pretrained"]) == []


def test_did_you_mean_quotes_the_matches_or_says_nothing():
    assert lookup.did_you_mean("pixle", {"pixel": 1, "pretrained": 2}) == " (did you mean 'pixel'?)"
    assert lookup.did_you_mean("gan_vanila", ["gan_vanilla", "gan_lsgan", "l1"], n=2) == (
        " (did you mean 'gan_vanilla', 'gan_lsgan'?)"
    )
    assert lookup.did_you_mean("zzz", ["pixel"]) == ""
