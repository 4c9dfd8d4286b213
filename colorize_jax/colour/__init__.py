"""Colour: spaces (CIELAB, YUV, RGB targets), colourfulness, and ab quantization.

Pure array functions; imports nothing else of colorize_jax.
"""
