"""The exported function of a generator, written as ONNX (jax2onnx) or StableHLO (jax.export).

The function is the network's inference (batch statistics frozen) with the head's decode (the
classification head's annealed mean or other `classify.decode`, the `decode_chroma_gain`):
float32 NHWC lightness in [-1, 1], scaled as `colorspace.encode` makes the model's input (lab:
L / 50 - 1; rgb, yuv: Y' * 2 - 1), to the predicted colour target scaled as `encode`'s targets
(lab: (a, b) / 110; yuv: (U / U_MAX, V / V_MAX); rgb: RGB * 2 - 1). Batch, height and width are
symbolic; height and width must be multiples of the model's stride (as
`full_resolution.render_shape` makes them; the model would edge-pad other sizes):

  onnx       input "lightness" [B, H, W, 1] -> output "target" [B, H, W, C]; an H or W that is
             not a multiple is cropped down to one (bottom rows, right columns dropped).
  stablehlo  jax.export.deserialize(bytearray(open(PATH, "rb").read())).call(lightness) for
             shapes (B, S*h, S*w, 1); other sizes are refused. Serialized for `platforms`.

`load_predict` reads either back as a NumPy function (onnxruntime, or the StableHLO reloaded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from colorize_jax.inference import full_resolution, onnx_colorizer, onnx_tracing


def predict_function(colorizer: full_resolution.Colorizer) -> Callable[[jax.Array], jax.Array]:
    """lightness (B, H, W, 1) -> float32 colour target: network (train=False), then decode."""
    network, head = colorizer.network, colorizer.head
    variables = jax.device_get(network.variables)  # constants of the exported function

    def predict(lightness: jax.Array) -> jax.Array:
        outputs = network.apply_fn(variables, lightness, train=False)
        return head.predict(outputs).astype(jnp.float32)

    return predict


def export_onnx(colorizer: full_resolution.Colorizer, path: str) -> None:
    """Writes the ONNX model of `predict_function` (symbolic B, H, W; see `onnx_tracing`)."""
    import onnx  # noqa: PLC0415 - optional dependencies (setup.cfg's export extra)

    dtype = colorizer.config.model.get("dtype", "float32")
    if jnp.dtype(dtype) != jnp.float32:
        raise ValueError(
            f"config.model.dtype is {dtype}, which onnxruntime's CPU kernels do not run: export "
            "with --set=model.dtype=float32 (the check then compares with JAX in float32)"
        )
    predict, stride = predict_function(colorizer), colorizer.stride

    def cropped(lightness):
        # Sizes stride * floor(H / stride): jax then knows the model's edge padding is empty.
        batch, height, width, _ = lightness.shape
        size = (batch, stride * (height // stride), stride * (width // stride), 1)
        with onnx_tracing.adaptations():
            return predict(jax.lax.slice(lightness, (0, 0, 0, 0), size))

    shape = jax.export.symbolic_shape(
        "B, H, W, 1", constraints=(f"H >= {stride}", f"W >= {stride}")
    )
    model = onnx_tracing.to_onnx(
        cropped,
        [jax.ShapeDtypeStruct(shape, jnp.float32)],
        model_name="colorize_jax",
        input_names=[onnx_colorizer.INPUT_NAME],
        output_names=[onnx_colorizer.OUTPUT_NAME],
    )
    onnx.save_model(model, path)


def export_stablehlo(
    colorizer: full_resolution.Colorizer, path: str, platforms: Sequence[str] | None = None
) -> None:
    """Writes `jax.export`'s serialization of `predict_function` for (B, S*h, S*w, 1) inputs."""
    stride = colorizer.stride
    shape = jax.export.symbolic_shape(f"B, {stride}*h, {stride}*w, 1")
    exported = jax.export.export(jax.jit(predict_function(colorizer)), platforms=platforms)(
        jax.ShapeDtypeStruct(shape, jnp.float32)
    )
    with open(path, "wb") as f:
        f.write(exported.serialize())


def load_predict(path: str, model_format: str) -> Callable[[np.ndarray], np.ndarray]:
    """The artifact at `path` as a NumPy function lightness -> target (onnxruntime / reloaded)."""
    if model_format == "onnx":
        session = onnx_colorizer.load_session(path)
        names = [onnx_colorizer.OUTPUT_NAME]
        return lambda x: session.run(names, {onnx_colorizer.INPUT_NAME: x})[0]
    with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    return lambda x: np.asarray(exported.call(x))
