"""Heads with an ordinary linear layer (bias kept, proxies not normalised)."""

import math

import torch
from torch import nn

from ._base import ProxyHead, check_scale, unit_vectors
from ._bounds import l2softmax_alpha_lower_bound, warn_if_below


class SoftmaxHead(ProxyHead):
    """Plain softmax cross-entropy over ``W x + b``: the baseline the papers measure against.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        Class weights.
    bias : torch.nn.Parameter of shape (n_classes,)
        Class biases.

    See Also
    --------
    L2SoftmaxHead : the same layer on features rescaled to a fixed norm.
    NormFaceHead : normalised features and proxies, no bias.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import SoftmaxHead
    >>> head = SoftmaxHead(n_classes=10, embedding_dim=8)
    >>> loss = head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))
    >>> loss.shape
    torch.Size([])
    """

    def __init__(self, n_classes, embedding_dim):
        super().__init__(n_classes, embedding_dim)
        self.bias = nn.Parameter(torch.zeros(self.n_classes))
        self.reset_bias()

    def reset_bias(self):
        bound = 1.0 / math.sqrt(self.embedding_dim)
        nn.init.uniform_(self.bias, -bound, bound)

    def features(self, x):
        """The features the linear layer sees; the identity here."""
        return x

    def logits(self, x, labels=None):
        return torch.nn.functional.linear(
            self.features(x), self.weight.to(x.dtype), self.bias.to(x.dtype)
        )


class L2SoftmaxHead(SoftmaxHead):
    """L2-constrained softmax: features rescaled to norm ``α``, then an ordinary softmax layer.

    ``logits = W (α x/‖x‖) + b`` with ``W`` not normalised and the bias kept (Ranjan et al.,
    2017). ``α`` is fixed or a trainable scalar; a fixed ``α`` below
    :func:`l2softmax_alpha_lower_bound` for ``n_classes`` (at p = 0.9) raises a
    :class:`LowScaleWarning`.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    alpha : float, default=16.0
        Radius the features are rescaled to (initial value when ``learn_alpha``).
    learn_alpha : bool, default=False
        Train ``α`` as a parameter.

    Attributes
    ----------
    weight, bias : torch.nn.Parameter
        The linear layer.
    alpha : torch.Tensor
        Scalar radius: a parameter when learnable, otherwise a buffer.

    See Also
    --------
    l2softmax_alpha_lower_bound : the smallest useful ``α``.
    NormFaceHead : also normalises the proxies and drops the bias.

    References
    ----------
    .. [1] R. Ranjan, C. D. Castillo, R. Chellappa, "L2-constrained Softmax Loss for
       Discriminative Face Verification", arXiv:1703.09507, 2017.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import L2SoftmaxHead
    >>> head = L2SoftmaxHead(n_classes=10, embedding_dim=8, alpha=16.0)
    >>> loss = head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))
    >>> bool(torch.isfinite(loss))
    True
    """

    def __init__(self, n_classes, embedding_dim, alpha=16.0, learn_alpha=False):
        super().__init__(n_classes, embedding_dim)
        alpha = check_scale("alpha", alpha)
        self.learn_alpha = bool(learn_alpha)
        self.register_scalar("alpha", alpha, self.learn_alpha)
        if not self.learn_alpha:
            bound = l2softmax_alpha_lower_bound(self.n_classes)
            warn_if_below("alpha", alpha, bound, "L2-softmax", self.n_classes)

    def features(self, x):
        direction, _ = unit_vectors(x)
        return self.alpha.to(x.dtype) * direction

    def extra_repr(self):
        return (
            f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, "
            f"alpha={float(self.alpha):g}, learn_alpha={self.learn_alpha}"
        )
