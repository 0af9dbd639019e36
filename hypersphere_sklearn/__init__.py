"""hypersphere-sklearn: hypersphere face embeddings (NormFace, L2-softmax, Ring loss,
SphereFace-R, SphereFace, CosFace, ArcFace) for scikit-learn.

The loss heads live in :mod:`hypersphere_sklearn.heads`.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
