"""Checking what users pass to ``fit`` and ``transform``: images or 2-D data, and labels.

Every problem raises a ``ValueError`` that names it and the fix, before any training starts.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import column_or_1d, validate_data

#: Channel counts recognised when telling (n, H, W, C) from (n, C, H, W).
CHANNEL_COUNTS = (1, 3, 4)
#: Images checked for NaN/inf at a time, so the check needs no full-size boolean copy.
CHUNK = 1024


@dataclass(frozen=True)
class InputSpec:
    """What the model was fitted on: the shape of one sample and how to read a batch."""

    kind: str  # "features", "images" (arrays) or "paths" (image files)
    shape: tuple  # (n_features,) or (channels, height, width)
    layout: str = "NCHW"  # how image arrays are laid out: "NHW", "NHWC" or "NCHW"
    pixel_max: float = 1.0  # 255 for 0-255 pixels, 1 for 0-1 pixels

    def to_model_layout(self, batch):
        """A batch of this input as the ``(n, C, H, W)`` or ``(n, n_features)`` array."""
        if self.layout == "NHW":
            return batch[:, None]
        if self.layout == "NHWC":
            return np.moveaxis(batch, -1, 1)
        return batch

    def describe(self):
        if self.kind == "features":
            return f"{self.shape[0]} features"
        c, h, w = self.shape
        return f"{h}x{w} images with {c} channel(s)"


def image_layout(shape):
    """'NHW', 'NHWC' or 'NCHW' for an array of ``shape``; (n, H, W, C) wins a tie."""
    if len(shape) == 3:
        return "NHW"
    if shape[-1] in CHANNEL_COUNTS:
        return "NHWC"
    if shape[1] in CHANNEL_COUNTS:
        return "NCHW"
    raise ValueError(
        f"cannot tell the channels of images of shape {shape}: pass (n, H, W), "
        f"(n, H, W, C) or (n, C, H, W) with C in {CHANNEL_COUNTS}."
    )


def as_numeric_array(X):
    """``X`` as a numeric NumPy array, or a ``ValueError`` saying why it is not one."""
    if sp.issparse(X):
        raise ValueError("images cannot be a sparse matrix; pass a dense array.")
    try:
        X = np.asarray(X)
    except ValueError as error:  # ragged nested lists
        raise ValueError(
            "X could not be made into one array; images of different sizes? Resize them to "
            f"one size first. ({error})"
        ) from error
    if X.dtype == object:
        try:
            X = X.astype(np.float32)
        except ValueError as error:
            raise ValueError(
                "X is an object array that could not be read as numbers (images of different "
                f"sizes, or strings?); pass a numeric array of equal-sized images. ({error})"
            ) from error
        except TypeError as error:  # e.g. dicts; a TypeError, as scikit-learn raises it
            raise TypeError(f"X holds values that are not numbers: {error}") from error
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers; got dtype {X.dtype}.")
    return X


def check_finite_images(X):
    if X.dtype.kind != "f":
        return
    for start in range(0, len(X), CHUNK):
        if not np.isfinite(X[start : start + CHUNK]).all():
            raise ValueError(
                "X contains NaN or inf pixels (first in images "
                f"{start}..{min(start + CHUNK, len(X)) - 1}); remove or repair them."
            )


def check_X(estimator, X, *, fitting):
    """Validate ``X`` and return it with its :class:`InputSpec`.

    2-D data goes through scikit-learn's ``validate_data`` (``n_features_in_``, feature names,
    float32); images (3-D or 4-D) keep their dtype and layout, so that uint8 images stay
    uint8 until a batch is sent to the model.
    """
    is_object_array = getattr(getattr(X, "dtype", None), "kind", None) == "O"
    if not sp.issparse(X) and (not hasattr(X, "ndim") or is_object_array):
        X = as_numeric_array(X)
    ndim = X.ndim
    if sp.issparse(X) or ndim in (1, 2):
        if not fitting and estimator.input_spec_.kind == "images":
            raise ValueError(
                f"X has shape {getattr(X, 'shape', '?')} but the embedder was fitted on "
                f"{estimator.input_spec_.describe()}; pass images of that size."
            )
        X = validate_data(estimator, X, reset=fitting, dtype=np.float32)
        return X, InputSpec("features", (X.shape[1],), layout="NF")
    X = as_numeric_array(X)
    if X.ndim not in (3, 4):
        raise ValueError(
            "X must be 2-D data (n_samples, n_features) or images shaped (n, H, W), "
            f"(n, H, W, C) or (n, C, H, W); got an array of shape {X.shape}."
        )
    if len(X) == 0:
        raise ValueError(f"X is empty (shape {X.shape}); pass at least one image.")
    layout = image_layout(X.shape)
    shape = InputSpec("images", (), layout).to_model_layout(X[:1]).shape[1:]
    check_finite_images(X)
    if fitting:
        pixel_max = 255.0 if X.dtype == np.uint8 or np.abs(X).max() > 1.0 else 1.0
        return X, InputSpec("images", tuple(int(s) for s in shape), layout, pixel_max)
    fitted = estimator.input_spec_
    spec = InputSpec("images", tuple(int(s) for s in shape), layout, fitted.pixel_max)
    if spec.shape != fitted.shape:
        raise ValueError(
            f"X holds {spec.describe()} but the embedder was fitted on {fitted.describe()}; "
            "resize and convert them the same way as the training images."
        )
    return X, spec


def has_missing(y):
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype == object:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in y], dtype=bool)
    return np.zeros(len(y), dtype=bool)


def check_y(estimator, y, n_samples):
    """Validate identity labels; return ``(classes, encoded)`` with ``encoded`` int64."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None. "
            "Pass the identity label of every sample."
        )
    y = column_or_1d(y, warn=True)
    if len(y) != n_samples:
        raise ValueError(
            f"X has {n_samples} samples but y has {len(y)} labels; pass one label per sample."
        )
    missing = has_missing(y)
    if missing.any():
        where = np.flatnonzero(missing)[:5].tolist()
        raise ValueError(f"y contains missing values (NaN or None) at positions {where}.")
    try:
        classes, encoded = np.unique(y, return_inverse=True)
    except TypeError as error:
        raise ValueError(f"y mixes label types that cannot be ordered: {error}") from error
    if len(classes) < 2:
        raise ValueError(
            f"y has only 1 class ({classes[0]!r}); training an embedding needs at least 2 "
            "identities."
        )
    return classes, encoded.astype(np.int64)
