"""scikit-learn transformers that train hypersphere face embeddings (skorch ``NeuralNet``s)."""

from ._base import HypersphereEmbedder
from ._methods import (
    ArcFaceEmbedder,
    CContrastiveEmbedder,
    CosFaceEmbedder,
    CTripletEmbedder,
    L2SoftmaxEmbedder,
    NormFaceEmbedder,
    RingLossEmbedder,
    SoftmaxEmbedder,
    SphereFaceEmbedder,
    SphereFaceREmbedder,
)
from ._training import TrainingDivergedError

__all__ = [
    "ArcFaceEmbedder",
    "CContrastiveEmbedder",
    "CTripletEmbedder",
    "CosFaceEmbedder",
    "HypersphereEmbedder",
    "L2SoftmaxEmbedder",
    "NormFaceEmbedder",
    "RingLossEmbedder",
    "SoftmaxEmbedder",
    "SphereFaceEmbedder",
    "SphereFaceREmbedder",
    "TrainingDivergedError",
]
