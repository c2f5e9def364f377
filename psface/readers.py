"""What gallery's workflows are handed to read maps and load models (gallery sits below
the packages that do both, :mod:`gallery.sources`): wired once, for every command."""

from __future__ import annotations

from functools import partial
from typing import Any


def maps_and_models(device: str | None) -> dict[str, Any]:
    """``open_maps`` and ``load_model`` keyword arguments for a gallery workflow, models
    on ``device``. Imported on use: they bring torch and h5py, which ``--help`` need not."""
    from photostereo.maps_file import MapsFile
    from recognition.embed import load_embedder

    return {"open_maps": MapsFile, "load_model": partial(load_embedder, device=device)}
