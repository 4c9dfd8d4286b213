"""Objectives: loss terms, output heads (regression or ab-bin classification, with their
decoding), adversarial losses, and what a train step feeds them.

May import colour and models (and runtime); never training, evaluation, inference or tools.
"""
