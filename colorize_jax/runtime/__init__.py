"""Runtime: what surrounds the computation: checkpointing, device meshes and sharding, multi-host
start-up, preemption, CPU settings, reporting, and the one runner of the commands with its
command-line helpers (`cli`).

Above colour, data and models (it imports only `data`, whose errors `cli` turns into one-line
messages); below everything else.
"""
