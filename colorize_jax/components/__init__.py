"""Components: the model side of a config turned into objects.

`builder.build(config)` gives a training run's `Components` (generator, head, objective,
optional discriminator, optimizers and schedules, step settings); `builder.build_generator`
gives inference the generator's module and head alone. Both take a complete config:
`defaults.complete` fills a config from the defaults of `presets` (the one place they live) and
reads configs saved by older versions, once, where the config enters (training start, restore);
`optimizer` turns an optimizer section into optax's AdamW and its schedules.

May import presets, colour, data, models, runtime and objectives; never inference, evaluation,
training or tools.
"""
