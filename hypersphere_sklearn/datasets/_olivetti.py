"""The Olivetti faces, bundled with the package: the offline default dataset."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

DESCR = """\
Olivetti faces (AT&T Laboratories Cambridge, also known as ORL)
---------------------------------------------------------------

400 grayscale images of 40 people, 10 each, 64x64 pixels, uint8 0-255, aligned frontal faces
taken between April 1992 and April 1994 with varying lighting, expression and details
(glasses). The layout is scikit-learn's ``fetch_olivetti_faces``: ``target`` is the person
id 0..39, ten consecutive images each; here the pixels stay uint8 instead of floats.

Bundled inside hypersphere-sklearn so that everything runs offline. Distributed by the
authors for research use; cite F. Samaria and A. Harter, "Parameterisation of a stochastic
model for human face identification", IEEE Workshop on Applications of Computer Vision, 1994.
"""


def load_olivetti_faces(*, return_X_y=False):
    """Load the Olivetti faces bundled with the package (no download).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (400, 64, 64) uint8, ``data`` (400, 4096) uint8 (the images flattened),
        ``target`` (400,) int64 person ids 0..39, and ``DESCR``.
    (images, target) : tuple
        When ``return_X_y`` is true.

    Examples
    --------
    >>> from hypersphere_sklearn.datasets import load_olivetti_faces
    >>> faces = load_olivetti_faces()
    >>> faces.images.shape, faces.images.dtype, len(set(faces.target))
    ((400, 64, 64), dtype('uint8'), 40)
    """
    path = resources.files("hypersphere_sklearn.datasets") / "data" / "olivetti_faces_uint8.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as archive:
        images, target = archive["images"], archive["target"].astype(np.int64)
    if return_X_y:
        return images, target
    return Bunch(images=images, data=images.reshape(len(images), -1), target=target, DESCR=DESCR)
