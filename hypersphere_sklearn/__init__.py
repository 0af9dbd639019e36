"""hypersphere-sklearn: hypersphere face embeddings (NormFace, L2-softmax, Ring loss,
SphereFace-R, SphereFace, CosFace, ArcFace) for scikit-learn.

The estimators are importable from the top level; the loss heads live in
:mod:`hypersphere_sklearn.heads` and the networks in :mod:`hypersphere_sklearn.backbones`.
"""

from . import embedders
from .embedders import *  # noqa: F403 - the estimators, one per method
from .ensemble import EnsembleEmbedder
from .persistence import ModelFileError, load, save
from .verification import CosineVerifier

__version__ = "0.1.0.dev0"

__all__ = [*embedders.__all__, "CosineVerifier", "EnsembleEmbedder", "ModelFileError", "load",
           "save", "__version__"]
