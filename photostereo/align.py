"""Five-landmark alignment of a capture session to a canonical face crop.

The session's captures are warped by one similarity transform (rotation, uniform scale,
shift) onto the canonical template, and photometric stereo then runs in the aligned
frame. Warping the captures turns the camera about its axis, so the light directions are
rotated with them: in the aligned frame the lights are where a rolled camera would see
them, and the normals, albedo and depth that come out are already aligned (depth in
crop pixels).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from photostereo.session import CaptureSession

#: The five-point template of the ArcFace crops (eyes, nose tip, mouth corners), in pixels
#: of a 112 x 112 crop, x right and y down; it scales to any crop size.
TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


#: Largest weight an invalid input pixel may have in a warped pixel still counted valid:
#: below one step of a 16-bit capture, and above float32 rounding of a full weight.
MASK_TOLERANCE = 1e-5


def template(size: int) -> np.ndarray:
    """The five landmarks (5, 2) of a ``size`` x ``size`` crop."""
    return TEMPLATE_112 * (size / 112.0)


def similarity_to_template(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The 2 x 3 similarity matrix taking image landmarks (5, 2) onto the template."""
    transform = SimilarityTransform.from_estimate(np.asarray(landmarks, float), template(size))
    return transform.params[:2].astype(np.float64)


def centre_crop_transform(shape: tuple[int, int], size: int) -> np.ndarray:
    """The 2 x 3 matrix taking the central square of an (H, W) frame onto the crop."""
    h, w = shape
    side = min(h, w)
    scale = size / side
    return np.array([[scale, 0.0, -scale * (w - side) / 2], [0.0, scale, -scale * (h - side) / 2]])


def rotate_vectors(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors of the y-up frame by the in-plane rotation of ``matrix``.

    ``matrix`` works in pixel coordinates, where y points down; the rotation it applies
    to (x, y_down) is applied to (x, -y_up), and z is unchanged.
    """
    linear = matrix[:, :2]
    rotation = linear / np.sqrt(abs(np.linalg.det(linear)))
    x, y_down = vectors[..., 0], -vectors[..., 1]
    new_x = rotation[0, 0] * x + rotation[0, 1] * y_down
    new_y_down = rotation[1, 0] * x + rotation[1, 1] * y_down
    out = np.stack([new_x, -new_y_down, vectors[..., 2]], axis=-1)
    return out.astype(np.asarray(vectors).dtype)


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int, *, nearest: bool = False):
    """Warp one (H, W) or (H, W, C) image by ``matrix`` into a ``size`` x ``size`` crop.

    Area-like interpolation (INTER_AREA is not available for affine warps, so the image
    is pre-blurred to the target scale) keeps small crops from aliasing.
    """
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    source: np.ndarray = np.asarray(image, np.float32)
    if scale < 0.7 and not nearest:
        sigma = 0.5 * (1.0 / scale - 1.0)
        source = cv2.GaussianBlur(source, (0, 0), sigmaX=sigma, sigmaY=sigma)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpAffine(
        source, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def warp_valid(
    valid: np.ndarray | None, matrix: np.ndarray, size: int, shape: tuple[int, int]
) -> np.ndarray:
    """Warp an observation validity mask as :func:`warp_image` warps the captures.

    ``valid`` is (K, H, W) bool or None (all valid) for captures of ``shape`` (H, W);
    the result is (K, size, size), or (size, size) when ``valid`` is None, since every
    capture then shares it. An output pixel is valid only if every input pixel that
    :func:`warp_image` mixes into it is valid and inside the capture: the mask is warped
    as a float with the same pre-blur and bilinear weights (zero outside the frame), and
    kept where it is 1. A weight below ``MASK_TOLERANCE`` (below one 16-bit step, the
    far tail of the pre-blur's Gaussian) counts as not touching.
    """
    inside = warp_image(np.ones(shape, np.float32), matrix, size) >= 1.0 - MASK_TOLERANCE
    if valid is None:
        return inside
    out = np.repeat(inside[None], len(valid), axis=0)
    for k in np.flatnonzero(~valid.all(axis=(1, 2))):
        warped = warp_image(valid[k].astype(np.float32), matrix, size)
        out[k] &= warped >= 1.0 - MASK_TOLERANCE
    return out


def align_session(session: CaptureSession, matrix: np.ndarray, size: int) -> CaptureSession:
    """The session as a camera rolled and zoomed onto the crop would have captured it.

    ``valid`` is warped conservatively (:func:`warp_valid`): a crop pixel mixed from a
    saturated pixel, or from outside the capture, is not an observation.
    """
    images = np.stack([warp_image(image, matrix, size) for image in session.images])
    valid = warp_valid(session.valid, matrix, size, session.shape)
    if valid.ndim == 2:  # one mask for every capture: a view, not K copies
        valid = np.broadcast_to(valid, images.shape)
    return CaptureSession(
        images=images,
        directions=rotate_vectors(session.directions, matrix),
        intensities=session.intensities,
        subject=session.subject,
        session=session.session,
        attributes=session.attributes,
        source=session.source,
        image_names=session.image_names,
        saturation=session.saturation,
        response=session.response,
        valid=valid,
    )
