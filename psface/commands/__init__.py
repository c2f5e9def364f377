"""One module per ``psface`` stage; each exposes ``register(subparsers)``."""

from psface.commands import reconstruct, synth

STAGES = (reconstruct, synth)
