"""Training: the train state, the training schemes (plain, adversarial) and their step
functions, and the loop that runs them with checkpoints, evaluation and reporting.

A scheme is one module with a pure `train_step(state, batch, *, components)` and a line in
`schemes.SCHEMES`; `config.scheme` names it. The loop never asks which scheme it runs.

May import every lower layer (runtime, colour, data, models, objectives, components, inference,
evaluation); only tools and the command modules import training.
"""
