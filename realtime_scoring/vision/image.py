"""Resampling a rectangle of an image to a model's input size, in numpy (no OpenCV on the server)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

Border = Literal["zero", "edge"]
Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in source pixels; may reach outside the image


@lru_cache(maxsize=64)
def _taps(in_size: int, start: float, stop: float, out_size: int, border: Border) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights [out_size, taps] that resample [start, stop) of a line of in_size pixels.

    A triangle filter widened by the scale factor when shrinking (as PIL does for bilinear),
    so a 640-pixel frame reduced to 128 averages every pixel instead of aliasing on the ones that
    plain bilinear sampling happens to hit. Cached: a camera's frame size does not change.
    """
    scale = (stop - start) / out_size
    support = max(scale, 1.0)
    centres = start + (np.arange(out_size) + 0.5) * scale
    first = np.floor(centres - support).astype(np.int64)
    indices = first[:, None] + np.arange(int(np.ceil(2 * support)) + 2)
    weights = np.maximum(0.0, 1.0 - np.abs(indices + 0.5 - centres[:, None]) / support)
    weights /= weights.sum(axis=1, keepdims=True)
    inside = (indices >= 0) & (indices < in_size)
    if border == "zero":
        # Outside pixels count as black, so a letterbox's bars are exactly what the model saw in training.
        weights = np.where(inside, weights, 0.0)
    indices = np.clip(indices, 0, in_size - 1)
    return indices, weights.astype(np.float32)


def resample(image: np.ndarray, region: Region, size: tuple[int, int], border: Border = "edge") -> np.ndarray:
    """The `region` of an [H,W] or [H,W,C] image resampled to `size` (width, height), as float32 in the image's range.

    Parts of the region outside the image are black (`border="zero"`) or repeat the nearest edge pixel.
    """
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in region)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty region {region}")
    whole_pixels = x0.is_integer() and y0.is_integer() and (x1 - x0, y1 - y0) == size
    if whole_pixels and x0 < width and y0 < height and x1 > 0 and y1 > 0:
        return _shifted(image, int(x0), int(y0), size, border)
    rows, row_weights = _taps(height, y0, y1, size[1], border)
    cols, col_weights = _taps(width, x0, x1, size[0], border)
    # Separable: rows first, then columns of the already shortened image. Each output pixel gathers
    # only the few source pixels under its filter instead of a dense matrix row of the whole frame.
    tall = np.einsum("ok,ok...->o...", row_weights, image[rows].astype(np.float32))
    result: np.ndarray = np.einsum("pk,opk...->op...", col_weights, tall[:, cols])
    return result


def _shifted(image: np.ndarray, x0: int, y0: int, size: tuple[int, int], border: Border) -> np.ndarray:
    """At scale 1 and whole-pixel offsets the filter picks each pixel alone: copy the region, padding outside it."""
    height, width = image.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + size[1] - height), max(0, x0 + size[0] - width)
    inner = image[max(0, y0) : y0 + size[1], max(0, x0) : x0 + size[0]].astype(np.float32)
    padding = ((top, bottom), (left, right)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(inner, padding, mode="constant" if border == "zero" else "edge")
