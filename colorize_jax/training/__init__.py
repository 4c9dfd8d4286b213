"""Training: the train state, the optimizer and its schedules, the step functions (plain and
adversarial) and the loop that runs them with checkpoints, evaluation and reporting.

May import every lower layer (runtime, colour, data, models, objectives, inference, evaluation);
only tools and the command modules import training.
"""
