"""The liveness score of a session: how likely it is a live face, not an attack.

Two scores, each probability-like in [0, 1] (higher: more likely live):

* **physical** (no training), the session's ``liveness``, which decisions use: the
  relief cues of :mod:`photostereo.liveness_cues`. A live face is curved both ways;
  prints, curved prints and screens are sheets, whose normals spread along one
  direction at most and whose Gaussian curvature is zero. The score is
  ``sigmoid(SLOPE * z)`` with ``z`` the mean of ``log(cue / scale)`` over
  :data:`RELIEF_SCALES`: a flat sheet's normals spread about a degree through sensor
  noise (0.0175) and a face's inner region curves through more than a steradian, so the
  scales sit between them. Measured (benchmarks/RESULTS.md): live faces z >= 0.9 on
  real Extended Yale B sessions and >= 1.8 on synthetic ones; prints <= -1.3, screens
  <= 0.3 (a glossy screen's glare bends the normals a little). A mask has a face's
  shape, and passes.
* **learned** (:mod:`photostereo.liveness_net`), recorded beside it: networks on the
  albedo and normal maps, for what relief cannot see, a mask's texture (a photograph,
  its shading baked in). On synthetic people it catches the masks, but on real faces
  lit from one side it reads the shading photometric stereo leaves in the albedo as a
  mask's: at the score that caught every synthetic mask it turned away 3 of 90 real
  Extended Yale B sessions of the people it trained on. So it does not decide; evaluate
  reports what it, and both together, would do (``psface evaluate``).

What physical score separates live from attack at a chosen bona fide rejection rate
(BPCER) is read from :data:`CALIBRATION_FILE`, measured on live faces by
``scripts/train_liveness.py``; preprocess copies it into the maps file (root attribute
``liveness_calibration``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

from photostereo.liveness_cues import CUES, cue_vector
from photostereo.liveness_net import learned_score, shipped_net
from photostereo.session import CaptureSession
from photostereo.solver_common import PhotometricResult

#: Cue -> the value between a sheet's and a face's, per :mod:`photostereo.liveness_cues`.
RELIEF_SCALES = {"normal_spread": 0.03, "curvature": 0.5}
#: Steepness of the physical score in units of mean log cue ratio.
SLOPE = 2.0
DATA = Path(__file__).resolve().parent / "data"
#: The live faces' scores at a few BPCERs: {"bpcer": [...], "threshold": [...], ...}.
CALIBRATION_FILE = DATA / "liveness_calibration.json"


def relief(cues: np.ndarray) -> np.ndarray:
    """(...,) ``z``: the mean of log(cue / scale) over :data:`RELIEF_SCALES`, of cue
    vectors (..., len(CUES)) (NaN where a cue is)."""
    cues = np.asarray(cues, np.float64)
    logs = [
        np.log(np.maximum(cues[..., CUES.index(name)], 1e-12) / scale)
        for name, scale in RELIEF_SCALES.items()
    ]
    return np.mean(logs, axis=0)


def physical_score(cues: np.ndarray) -> np.ndarray:
    """(...,) the physical liveness score of cue vectors (..., len(CUES)); NaN where
    the cues could not be measured."""
    return 1.0 / (1.0 + np.exp(-SLOPE * relief(cues)))


def physical_liveness(
    aligned: CaptureSession,
    normals: np.ndarray,
    albedo: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    photometric: PhotometricResult,
) -> dict[str, object]:
    """The maps file's ``meta`` entries ``liveness`` (the physical score, which
    decisions read) and ``liveness_cues`` of one aligned, reconstructed session."""
    cues = cue_vector(
        aligned.images, aligned.intensities, normals, albedo, depth, mask, photometric.residual
    )
    return {
        "liveness": np.float32(physical_score(cues)),
        "liveness_cues": cues.astype(np.float32),
    }


def learned_liveness(inputs: np.ndarray) -> np.ndarray:
    """(B,) the shipped networks' scores of (B, 4, 48, 48)
    :func:`photostereo.liveness_net.net_input` arrays, in one batch (a session at a time
    costs more in calls than in arithmetic); NaN while there are no networks."""
    net = shipped_net()
    if net is None or not len(inputs):
        return np.full(len(inputs), np.nan)
    return learned_score(inputs, net)


@cache
def calibration_text() -> str | None:
    """The shipped calibration (JSON), as preprocess records it in the maps file; None
    while ``scripts/train_liveness.py`` has yet to write it."""
    if not CALIBRATION_FILE.is_file():
        return None
    table = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return json.dumps(table, sort_keys=True)
