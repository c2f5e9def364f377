"""Real-data evaluation of the solvers on Extended Yale B: protocol, reference, metrics.

* :mod:`~photostereo.realdata.protocol`: which captures make up each test (the rules
  behind ``data/protocols/yaleb.json``);
* :mod:`~photostereo.realdata.reference`: the many-light trimmed fit that stands in for
  ground truth, and the face mask every solver is scored on;
* :mod:`~photostereo.realdata.metrics`: angular error, albedo spread, rank-1 matching
  and relighting error, as pure array functions;
* :mod:`~photostereo.realdata.runner`: :func:`run_protocol`, every figure for every
  solver (the one module that reads captures).
"""

from photostereo.realdata.metrics import (
    albedo_spread,
    angular_error_deg,
    area_resize_matrix,
    rank1,
    recognition_vector,
    relighting_error,
    resize_area,
    session_error,
)
from photostereo.realdata.reference import ReferenceFit, face_mask, trimmed_fit
from photostereo.realdata.runner import load_protocol, run_protocol

__all__ = [
    "ReferenceFit",
    "albedo_spread",
    "angular_error_deg",
    "area_resize_matrix",
    "face_mask",
    "load_protocol",
    "rank1",
    "recognition_vector",
    "relighting_error",
    "resize_area",
    "run_protocol",
    "session_error",
    "trimmed_fit",
]
