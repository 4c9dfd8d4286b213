"""Inference: restoring a trained generator (weights only), the Colorizer for full-resolution
photos, photo input/output, and export to ONNX and StableHLO.

May import runtime, colour, data, models, objectives and components; never training,
evaluation or tools.
"""
