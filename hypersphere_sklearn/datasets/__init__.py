"""Face datasets: the bundled Olivetti faces and Labeled Faces in the Wild."""

from ._lfw import fetch_lfw_pairs, fetch_lfw_people, load_lfw_arrays
from ._olivetti import load_olivetti_faces

__all__ = ["fetch_lfw_pairs", "fetch_lfw_people", "load_lfw_arrays", "load_olivetti_faces"]
