"""Components: the config read once and turned into objects.

`builder.build(config)` gives a training run's `Components` (generator, head, objective,
optional discriminator, optimizers and schedules, step settings); `builder.build_generator`
gives inference the generator's module and head alone. `defaults.complete` fills any config from
the defaults of `presets` (the one place they live) and reads configs saved by older versions;
`optimizer` turns an optimizer section into optax's AdamW and its schedules.

May import presets, colour, data, models, runtime and objectives; never inference, evaluation,
training or tools.
"""
