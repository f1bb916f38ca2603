"""Chip export and the bit-exact emulator (docs/chip.md).

Pipeline (house style 9): ``lower`` (spec -> IR) -> ``quantize`` (power-of-two scales, int8
weights) -> ``rules`` (design-rule checks) -> ``mapping`` (tiles, cores, mesh, routes) ->
``program`` (the ``.hnnc`` file); ``compiler.export`` runs it all. ``spec`` holds the chip's
limits, ``isa`` the core instruction set, ``primitives`` its integer semantics, ``emulator`` and
``run`` execute programs, ``estimates`` gives energy/latency/utilisation (NIR: :mod:`hnnbio.nir`).
"""
