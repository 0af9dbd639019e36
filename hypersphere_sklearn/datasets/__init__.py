"""Face datasets: the bundled Olivetti faces, Labeled Faces in the Wild, image folders."""

from ._folders import ImageLoader, load_image_folder
from ._lfw import fetch_lfw_pairs, fetch_lfw_people, load_lfw_arrays
from ._olivetti import load_olivetti_faces

__all__ = [
    "ImageLoader",
    "fetch_lfw_pairs",
    "fetch_lfw_people",
    "load_image_folder",
    "load_lfw_arrays",
    "load_olivetti_faces",
]
