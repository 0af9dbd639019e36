"""hypersphere-sklearn: hypersphere face embeddings (NormFace, L2-softmax, Ring loss,
SphereFace-R, SphereFace, CosFace, ArcFace) for scikit-learn.

The estimators are importable from the top level; the loss heads live in
:mod:`hypersphere_sklearn.heads` and the networks in :mod:`hypersphere_sklearn.backbones`.
"""

from .embedders import (
    ArcFaceEmbedder,
    CContrastiveEmbedder,
    CosFaceEmbedder,
    CTripletEmbedder,
    HypersphereEmbedder,
    L2SoftmaxEmbedder,
    NormFaceEmbedder,
    RingLossEmbedder,
    SoftmaxEmbedder,
    SphereFaceEmbedder,
    SphereFaceREmbedder,
)
from .verification import CosineVerifier

__version__ = "0.1.0.dev0"

__all__ = [
    "ArcFaceEmbedder",
    "CContrastiveEmbedder",
    "CTripletEmbedder",
    "CosineVerifier",
    "CosFaceEmbedder",
    "HypersphereEmbedder",
    "L2SoftmaxEmbedder",
    "NormFaceEmbedder",
    "RingLossEmbedder",
    "SoftmaxEmbedder",
    "SphereFaceEmbedder",
    "SphereFaceREmbedder",
    "__version__",
]
