"""Loss heads for hypersphere embeddings, all on one framework (``losses.md`` §1).

Each head is a ``torch.nn.Module`` that owns the class proxies ``weight`` of shape
``(n_classes, embedding_dim)`` (and any learnable scalar), takes ``(embeddings, labels)`` and
returns the mean loss; ``return_logits=True`` also returns the logits it used.
"""

from ._agent import AgentHead, CContrastiveHead, CTripletHead
from ._angular import AngularMarginHead, ArcFaceHead, CosFaceHead, NormFaceHead
from ._base import ProxyHead
from ._bounds import LowScaleWarning, l2softmax_alpha_lower_bound, normface_scale_lower_bound
from ._linear import L2SoftmaxHead, SoftmaxHead
from ._ring import RingLossHead
from ._sphereface import SphereFaceHead, SphereFaceRHead

__all__ = [
    "AgentHead",
    "AngularMarginHead",
    "ArcFaceHead",
    "CContrastiveHead",
    "CTripletHead",
    "CosFaceHead",
    "L2SoftmaxHead",
    "LowScaleWarning",
    "NormFaceHead",
    "ProxyHead",
    "RingLossHead",
    "SoftmaxHead",
    "SphereFaceHead",
    "SphereFaceRHead",
    "l2softmax_alpha_lower_bound",
    "normface_scale_lower_bound",
]
