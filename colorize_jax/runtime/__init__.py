"""Runtime: what surrounds the computation: checkpointing, device meshes and sharding, multi-host
start-up, preemption, CPU settings, reporting and command-line helpers.

Above colour, data and models (it imports only `data`, whose errors `cli` turns into one-line
messages); below everything else.
"""
