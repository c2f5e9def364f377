"""Training losses: margin heads on cosine logits, the classifier that owns the class
centres, and the batch-hard triplet loss."""

from recognition.losses.margins import (
    MARGINS,
    ArcFace,
    CosFace,
    MagFace,
    MarginClassifier,
    build_margin,
)
from recognition.losses.triplet import TripletLoss

__all__ = [
    "MARGINS",
    "ArcFace",
    "CosFace",
    "MagFace",
    "MarginClassifier",
    "TripletLoss",
    "build_margin",
]
