"""Inference: restoring a trained generator (weights only), the Colorizer for full-resolution
photos, photo input/output, the web app's page (web_page, web_colorize), and export to ONNX
and StableHLO.

May import runtime, colour, data, models, objectives and components; never training,
evaluation or tools.
"""
