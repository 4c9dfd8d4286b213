"""Objectives: the loss terms and their registry by kind (`terms`), the checked objective and the
one generator loss every training scheme uses (`losses`), output heads (regression or ab-bin
classification, with their decoding), the two sides of the GAN losses, and what a train step
feeds them.

May import presets, colour and models (and runtime); never components, inference, evaluation,
training or tools.
"""
