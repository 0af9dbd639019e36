"""Face datasets: the bundled Olivetti faces."""

from ._olivetti import load_olivetti_faces

__all__ = ["load_olivetti_faces"]
