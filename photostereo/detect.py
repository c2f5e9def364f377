"""Finding the face in a session: MTCNN (facenet-pytorch), one detection per session.

The head does not move between flashes, so one detection serves every capture. MTCNN
is trained on photographs, and one capture under one light looks like a photograph;
a blend of all captures (mean or maximum) is flatter and was found less often (87% and
71% against 96% on synthetic sessions). So the most frontal capture is tried first and
the others only where it finds no face. Its weights ship inside facenet-pytorch;
nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: MTCNN's confidence above which a box counts as a face.
MIN_CONFIDENCE = 0.9
#: Faces are looked for from this size (pixels) up; smaller ones are not our subjects.
MIN_FACE_SIZE = 40
#: Pictures are shrunk to at most this many pixels on their longer side before MTCNN:
#: a rig's subject fills much of the frame, and MTCNN's cost grows with the pixels
#: (at 160 px it found as many synthetic faces as at 256 px, in less than half the time).
MAX_SIDE = 160
#: ...but never so far that the smallest face sought falls below this many pixels.
SMALLEST_SHRUNK_FACE = 20


@dataclass(frozen=True)
class Detection:
    """The face MTCNN found: box (x0, y0, x1, y1), confidence, five landmarks (x, y down).

    ``n_faces`` counts every confident face in the picture; the largest one is kept.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    n_faces: int


def detection_picture(capture: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 for MTCNN: one capture stretched so its 99.5th percentile is white."""
    top = float(np.percentile(capture, 99.5))
    grey = np.clip(capture * (255.0 / max(top, 1e-6)), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


class FaceDetector:
    """MTCNN with psface's settings; one instance per process (it holds the networks)."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        min_face_size: int = MIN_FACE_SIZE,
        max_side: int = MAX_SIDE,
    ) -> None:
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, device=device, min_face_size=min_face_size)
        self.min_face_size = min_face_size
        self.max_side = max_side

    def detect(self, pictures: Sequence[np.ndarray]) -> list[Detection | None]:
        """Detect faces in (H, W, 3) uint8 pictures, batched by size; None where none.

        Pictures of one size go through MTCNN as one batch, which is what makes batching
        pay; the output keeps the input's order.
        """
        results: list[Detection | None] = [None] * len(pictures)
        shrunk = [self._shrink(picture) for picture in pictures]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, (picture, _) in enumerate(shrunk):
            by_shape.setdefault(picture.shape, []).append(index)
        for indices in by_shape.values():
            batch = np.stack([shrunk[i][0] for i in indices])
            self.mtcnn.min_face_size = round(self.min_face_size * shrunk[indices[0]][1])
            boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
            for i, b, p, q in zip(indices, boxes, probs, points, strict=True):
                results[i] = _largest_confident(b, p, q, shrunk[i][1], pictures[i].shape)
        return results

    def _shrink(self, picture: np.ndarray) -> tuple[np.ndarray, float]:
        """The picture at most ``max_side`` pixels long, and the scale applied."""
        scale = min(1.0, self.max_side / max(picture.shape[:2]))
        scale = max(scale, min(1.0, SMALLEST_SHRUNK_FACE / self.min_face_size))
        if scale == 1.0:
            return picture, 1.0
        size = (round(picture.shape[1] * scale), round(picture.shape[0] * scale))
        return cv2.resize(picture, size, interpolation=cv2.INTER_AREA), scale


def _largest_confident(
    boxes, probs, points, scale: float, shape: tuple[int, ...]
) -> Detection | None:
    """The largest confident face, its coordinates taken back to the full picture.

    A box wider or taller than the picture is no face of it: MTCNN answers so, with
    confidence, when a tightly cropped face fills the frame (the cropped Yale B set),
    and its landmarks then sit in the corners. Such boxes do not count.
    """
    if boxes is None:
        return None
    probs = np.asarray(probs, dtype=float)
    boxes = np.asarray(boxes, dtype=float) / scale
    fits = (boxes[:, 2] - boxes[:, 0] <= shape[1]) & (boxes[:, 3] - boxes[:, 1] <= shape[0])
    confident = np.flatnonzero((probs >= MIN_CONFIDENCE) & fits)
    if confident.size == 0:
        return None
    areas = (boxes[confident, 2] - boxes[confident, 0]) * (
        boxes[confident, 3] - boxes[confident, 1]
    )
    best = confident[int(np.argmax(areas))]
    return Detection(
        box=boxes[best].astype(np.float32),
        score=float(probs[best]),
        landmarks=(np.asarray(points[best], dtype=float) / scale).astype(np.float32),
        n_faces=int(confident.size),
    )
