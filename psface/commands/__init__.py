"""One module per ``psface`` stage; each exposes ``register(subparsers)``."""

from psface.commands import (
    ablate,
    demo,
    embed,
    enroll,
    evaluate,
    export,
    gallery,
    identify,
    preprocess,
    reconstruct,
    synth,
    train,
    verify,
)

#: In the order of the pipeline, as ``psface --help`` lists them.
STAGES = (
    synth,
    reconstruct,
    preprocess,
    train,
    export,
    embed,
    enroll,
    identify,
    verify,
    evaluate,
    gallery,
    ablate,
    demo,
)
