"""Image folders: one sub-folder per identity, read lazily from file paths.

The embedders accept the file paths themselves as X (``fit(paths, y)``, ``transform(paths)``):
images are decoded with Pillow batch by batch, in DataLoader workers when
``iterator_train__num_workers`` is set, so datasets larger than memory train and embed.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def load_image_folder(path, extensions=IMAGE_EXTENSIONS):
    """File paths and identity labels of a folder laid out ``<path>/<identity>/<image>``.

    Parameters
    ----------
    path : str or path
        The root folder; each sub-folder holds the images of one identity.
    extensions : tuple of str
        File endings that count as images (case-insensitive).

    Returns
    -------
    Bunch
        ``paths`` (object array of str) and ``target`` (the sub-folder names), sorted by
        identity then file name, and ``target_names``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for person in ("ann", "bob"):
    ...     (root / person).mkdir()
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / person / "1.png")
    >>> load_image_folder(root).target.tolist()
    ['ann', 'bob']
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist.")
    paths, target = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(person.iterdir()):
            if file.suffix.lower() in extensions and file.is_file():
                paths.append(str(file))
                target.append(person.name)
    if not paths:
        raise ValueError(
            f"{root} holds no images in sub-folders; the layout is <root>/<identity>/<image>."
        )
    target = np.asarray(target)
    return Bunch(paths=np.asarray(paths, dtype=object), target=target,
                 target_names=np.unique(target))


@dataclass
class ImageLoader:
    """How image files become arrays: decoding, optional crop and resize, colour.

    Parameters
    ----------
    size : tuple of int (height, width) or None, default=None
        Resize every image to this size (after cropping); None keeps the size, which must
        then be the same for every image.
    crop : tuple of int (top, left, height, width), "center" or None, default=None
        A box cut from each image before resizing; ``"center"`` cuts the largest centred
        square.
    color : {"grayscale", "rgb"}, default="grayscale"
    on_error : {"raise", "skip"}, default="raise"
        A corrupt or unreadable file raises an error naming it; with ``"skip"`` ``fit`` leaves
        it out (with its label) and warns instead.
    """

    size: tuple = None
    crop: object = None
    color: str = "grayscale"
    on_error: str = "raise"

    def __post_init__(self):
        if self.color not in ("grayscale", "rgb"):
            raise ValueError(f"color must be 'grayscale' or 'rgb'; got {self.color!r}.")
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip'; got {self.on_error!r}.")

    def __call__(self, path):
        """The image at ``path`` as uint8, (H, W) or (H, W, 3); ValueError naming the file."""
        from PIL import Image

        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.color == "grayscale" else "RGB")
                if self.crop == "center":
                    side = min(image.size)
                    left, top = (image.width - side) // 2, (image.height - side) // 2
                    image = image.crop((left, top, left + side, top + side))
                elif self.crop is not None:
                    top, left, height, width = self.crop
                    image = image.crop((left, top, left + width, top + height))
                if self.size is not None:
                    image = image.resize((self.size[1], self.size[0]), Image.BILINEAR)
                return np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as error:
            raise ValueError(
                f"cannot read image {os.fspath(path)}: {error}. Replace or remove the file, or "
                "pass image_loader=ImageLoader(on_error='skip') to leave it out."
            ) from error

    def readable(self, paths):
        """Mask of the files that decode; with ``on_error="raise"`` the first bad one raises."""
        keep = np.ones(len(paths), dtype=bool)
        for k, path in enumerate(paths):
            try:
                self(path)
            except ValueError as error:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping {error}", UserWarning, stacklevel=3)
                keep[k] = False
        return keep


def is_path_list(X):
    """True for a 1-D sequence of file paths (str or os.PathLike)."""
    if isinstance(X, (str, os.PathLike)) or not hasattr(X, "__len__") or len(X) == 0:
        return False
    if isinstance(X, np.ndarray) and X.ndim != 1:
        return False
    first = X[0]
    return isinstance(first, (str, os.PathLike))
