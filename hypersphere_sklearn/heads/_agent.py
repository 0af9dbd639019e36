"""NormFace's agent-based metric-learning losses: the proxies act as agents of their class.

With unit features and unit proxies the squared distance to agent j is
``d_j = ‖x̂ − Ŵ_j‖² = 2 − 2·cos θ_j``.
"""

import torch

from ._base import ProxyHead, cosine_matrix, unit_vectors
from ._validation import check_real


class AgentHead(ProxyHead):
    """Template of the agent losses: logits are the cosines to the agents."""

    def __init__(self, n_classes, embedding_dim, margin, hardest_negative):
        super().__init__(n_classes, embedding_dim)
        self.margin = check_real("margin", margin, minimum=0.0)
        self.hardest_negative = bool(hardest_negative)

    def logits(self, x, labels=None):
        return cosine_matrix(unit_vectors(x)[0], self.weight.to(x.dtype))

    def loss(self, cos, labels, x):
        index = labels[:, None]
        distances = 2.0 - 2.0 * cos
        positive = distances.gather(1, index)
        if self.hardest_negative:
            # The hinge decreases with d_j, so the hardest term is the one of the nearest agent.
            nearest = distances.scatter(1, index, float("inf")).amin(dim=1, keepdim=True)
            negatives = self.negative_terms(positive, nearest)
        else:
            # The target column is not a negative: zero its term before summing.
            terms = self.negative_terms(positive, distances).scatter(1, index, 0.0)
            negatives = terms.sum(dim=1, keepdim=True)
        return self.combine(positive, negatives).mean()

    def negative_terms(self, positive, distances):
        """Hinge terms of the negatives at squared distances ``distances``."""
        raise NotImplementedError

    def combine(self, positive, negatives):
        raise NotImplementedError

    def extra_repr(self):
        return (
            f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, "
            f"margin={self.margin:g}, hardest_negative={self.hardest_negative}"
        )


class CContrastiveHead(AgentHead):
    """NormFace C-contrastive loss: ``d_y + Σ_{j≠y} max(0, m − d_j)`` per sample, averaged.

    Pulls each feature to its class agent and pushes it at least ``m`` (in squared distance)
    from every other agent. With ``hardest_negative`` only the nearest other agent is pushed.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    margin : float, default=1.0
        Margin ``m`` on the squared distance (between 0 and 4 for unit vectors).
    hardest_negative : bool, default=False
        Keep only the hardest negative agent per sample.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        The agents (normalised in the loss).

    See Also
    --------
    CTripletHead : the triplet form.
    NormFaceHead : NormFace's classification loss.

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng, A. L. Yuille, "NormFace: L2 Hypersphere Embedding for
       Face Verification", ACM Multimedia 2017, arXiv:1704.06369, §4.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import CContrastiveHead
    >>> head = CContrastiveHead(n_classes=10, embedding_dim=8)
    >>> bool(head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9])) >= 0)
    True
    """

    def __init__(self, n_classes, embedding_dim, margin=1.0, hardest_negative=False):
        super().__init__(n_classes, embedding_dim, margin, hardest_negative)

    def negative_terms(self, positive, distances):
        return torch.relu(self.margin - distances)

    def combine(self, positive, negatives):
        return positive + negatives


class CTripletHead(AgentHead):
    """NormFace C-triplet loss: ``Σ_{j≠y} max(0, m + d_y − d_j)`` per sample, averaged.

    Each feature must be nearer its own agent than any other agent by ``m`` (in squared
    distance). With ``hardest_negative`` (what the reference code does) only the nearest other
    agent counts.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    margin : float, default=0.8
        Margin ``m`` on the squared distance.
    hardest_negative : bool, default=False
        Keep only the hardest negative agent per sample.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        The agents (normalised in the loss).

    See Also
    --------
    CContrastiveHead : the contrastive form.

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng, A. L. Yuille, "NormFace: L2 Hypersphere Embedding for
       Face Verification", ACM Multimedia 2017, arXiv:1704.06369, §4.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import CTripletHead
    >>> head = CTripletHead(n_classes=10, embedding_dim=8, hardest_negative=True)
    >>> bool(head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9])) >= 0)
    True
    """

    def __init__(self, n_classes, embedding_dim, margin=0.8, hardest_negative=False):
        super().__init__(n_classes, embedding_dim, margin, hardest_negative)

    def negative_terms(self, positive, distances):
        return torch.relu(self.margin + positive - distances)

    def combine(self, positive, negatives):
        return negatives
