"""Evaluation: per-image metrics (PSNR, SSIM, CIEDE2000, colourfulness, AuC, LPIPS, Fréchet
distance, semantic agreement), the evaluators that group them (a registry the config names),
the evaluator over a validation split, sheets, and scoring of full-resolution photos.

May import runtime, colour, data, models, objectives, components and inference; never training
or tools.
"""
