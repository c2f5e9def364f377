"""The real-data protocol's sessions as canonical session folders, for the commands.

The protocol (``data/protocols/yaleb.json``) cuts each Yale B person's 64 lights into
few-light sessions that exist nowhere on disk; written out as canonical folders
(16-bit linear captures, the strobes' calibrated intensities, raw-clipped observations
at full scale so that the reader finds them again), they go through ``psface
preprocess`` and everything after it as a user's sessions would.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from photostereo.io.canonical import write_canonical
from photostereo.io.yaleb import read_yaleb
from photostereo.realdata.runner import session_groups

#: The front four-light session's label: first in natural order, so a gallery that
#: enrols each person's earliest session enrols this one and probes the others.
GALLERY_SESSION = "00-front-4"


def export_sessions(
    data_dir: Path, protocol: dict, root: Path, *, people: list[str] | None = None
) -> int:
    """Every protocol session as a canonical folder ``root/PERSON/SESSION``; the count."""
    count = 0
    for person, plan in protocol["people"].items():
        if people is not None and person not in people:
            continue
        session = read_yaleb(data_dir / person)
        index = {name: i for i, name in enumerate(session.image_names)}
        for _group, spec in session_groups(plan):
            rows = [index[name] for name in spec["lights"]]
            images = session.images[rows]
            if session.valid is not None:  # clipped in the raw capture: full scale again
                images = np.where(session.valid[rows], images, 1.0)
            name = spec["id"].removeprefix(f"{person}-")
            label = GALLERY_SESSION if name == "front-4" else name
            subset = replace(
                session,
                images=np.clip(images, 0.0, 1.0).astype(np.float32),
                directions=session.directions[rows],
                intensities=session.intensities[rows],
                session=label,
                valid=None,
                image_names=tuple(spec["lights"]),
            )
            write_canonical(root / person / label, subset, bits=16)
            count += 1
    return count
