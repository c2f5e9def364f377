"""One module per ``psface`` stage; each exposes ``register(subparsers)``."""

from psface.commands import preprocess, reconstruct, synth

STAGES = (synth, reconstruct, preprocess)
