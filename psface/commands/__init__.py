"""One module per ``psface`` stage; each exposes ``register(subparsers)``."""

from psface.commands import embed, preprocess, reconstruct, synth, train

STAGES = (synth, reconstruct, preprocess, train, embed)
