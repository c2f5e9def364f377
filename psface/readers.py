"""What gallery's workflows are handed to read maps and load models (gallery sits below
the packages that do both, :mod:`gallery.sources`): wired once, for every command."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gallery.sources import AttributeReader


def maps_and_models(device: str | None) -> dict[str, Any]:
    """``open_maps`` and ``load_model`` keyword arguments for a gallery workflow, models
    on ``device``: run folders through PyTorch, exported files through onnxruntime
    (:func:`recognition.models.load_model`). Imported on use: they bring torch and h5py,
    which ``--help`` need not."""
    from photostereo.maps_file import MapsFile
    from recognition.models import load_model

    return {"open_maps": MapsFile, "load_model": partial(load_model, device=device)}


def attribute_reader() -> AttributeReader:
    """The attribute vocabulary of the multi-task heads (``recognition.attributes``:
    Photoface's, and the synthetic generator's spellings of it) for ``psface evaluate``'s
    attribute figures; gallery reads labels through it and cannot import it."""
    from gallery.sources import AttributeReader
    from recognition.attributes import CHANGE_TASKS, TASKS, attribute_changed, attribute_labels

    return AttributeReader(
        tasks=TASKS, change_tasks=CHANGE_TASKS, labels=attribute_labels, changed=attribute_changed
    )
