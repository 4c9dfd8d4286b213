"""The quality table's "no colour" baseline: predicted ab = 0 (the gray photo), no training.

Its row (`quality_rows.Row(..., no_colour=True)`) is evaluated like a trained row, on the same
validation images, by a stand-in network (`NoColourNetwork`) rather than a train state: the
evaluation needs of a network only `apply_fn(variables, inputs, train=False)` and `variables`
(its outputs are a Lab regression's target, which its `head` decodes).
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

from absl import flags

from colorize_jax.tools.quality_rows import Row

FLAGS = flags.FLAGS


class NoColourNetwork(NamedTuple):
    """A network that predicts ab = 0 (scaled Lab targets) for every pixel, with no variables.

    A NamedTuple without fields: a pytree without leaves, so the evaluation's jitted steps take
    it as they take a trained network's state.
    """

    @property
    def variables(self) -> dict[str, Any]:
        """No parameters: the Flax variable collections `apply_fn` ignores."""
        return {}

    @property
    def head(self) -> Any:
        """The head that makes the colour target of `apply_fn`'s outputs: Lab regression."""
        from colorize_jax.objectives import heads

        return heads.Head(space="lab", regression_channels=2)

    def apply_fn(self, variables: Any, inputs: Any, train: bool = False) -> Any:
        """Zeros of the (a, b) target for lightness `inputs` (B, H, W, 1): the gray photo."""
        import jax.numpy as jnp

        del variables, train
        return jnp.zeros(inputs.shape[:-1] + (2,))


def write_no_colour_row(row: Row, workdir: str) -> None:
    """Evaluates the "no colour" baseline (predicted ab = 0) like a trained row."""
    from colorize_jax.components import defaults
    from colorize_jax.evaluation import validation
    from colorize_jax.runtime import cli, sharding

    config = defaults.complete(cli.load_config_file(f"{row.config}:{FLAGS.preset}"))
    config.data.source = FLAGS.source
    config.data.max_eval_examples = FLAGS.eval_examples
    config.data.color_space = "lab"
    mesh = sharding.create_mesh()
    network, dataset = NoColourNetwork(), validation.create_dataset(config, mesh)
    validation.evaluate_and_write(
        network,
        network.head,
        dataset,
        mesh,
        workdir,
        step=FLAGS.steps,
        evaluators=tuple(config.evaluators),
        num_sheet_images=config.num_sheet_images,
    )
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.write(json.dumps({"step": 0, "model/num_params": 0}) + "\n")
