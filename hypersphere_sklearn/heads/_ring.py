"""Ring loss: a soft feature-norm constraint added to any primary head."""

import torch
from torch import nn

from ._base import ProxyHead, compute_dtype, full_precision, unit_vectors
from ._validation import check_real


class RingLossHead(nn.Module):
    """Primary loss plus Ring loss ``(λ/2B)·Σ_i (‖x_i‖ − R)²`` with a learnable radius ``R``.

    ``R`` is initialised from the mean feature norm of the first batch the head sees (as in
    the first author's code) unless ``radius`` is given. The gradient of the ring term is
    radial: ``(λ/B)(1 − R/‖x_i‖)·x_i``.

    Parameters
    ----------
    primary : ProxyHead
        The head whose loss is kept (softmax, NormFace, SphereFace, ...).
    ring_weight : float, default=0.01
        λ, the weight of the ring term.
    radius : float or None, default=None
        Initial ``R``; ``None`` takes the first batch's mean norm.

    Attributes
    ----------
    radius : torch.nn.Parameter
        The learnable radius ``R``.
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        The primary head's proxies.

    See Also
    --------
    L2SoftmaxHead : a hard norm constraint.
    SphereFaceRHead : soft feature normalisation with a fixed target norm.

    References
    ----------
    .. [1] Y. Zheng, D. K. Pal, M. Savvides, "Ring loss: Convex Feature Normalization for
       Face Recognition", CVPR 2018, arXiv:1803.00130.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import RingLossHead, SoftmaxHead
    >>> head = RingLossHead(SoftmaxHead(n_classes=10, embedding_dim=8), ring_weight=0.01)
    >>> x = torch.randn(4, 8)
    >>> _ = head(x, torch.tensor([0, 3, 3, 9]))
    >>> torch.allclose(head.radius, x.norm(dim=1).mean())
    True
    """

    def __init__(self, primary, ring_weight=0.01, radius=None):
        super().__init__()
        if not isinstance(primary, (ProxyHead, RingLossHead)):
            raise ValueError(
                "primary must be a loss head such as SoftmaxHead(n_classes, embedding_dim); got "
                f"{type(primary).__name__}."
            )
        self.primary = primary
        self.ring_weight = check_real("ring_weight", ring_weight, minimum=0.0)
        initial = 0.0 if radius is None else check_real("radius", radius, minimum=0.0)
        self.radius = nn.Parameter(torch.tensor(initial))
        self.register_buffer("radius_initialized", torch.tensor(radius is not None))

    @property
    def weight(self):
        return self.primary.weight

    @property
    def n_classes(self):
        return self.primary.n_classes

    @property
    def embedding_dim(self):
        return self.primary.embedding_dim

    def ring_term(self, embeddings):
        """The ring term alone, ``(λ/2B)·Σ (‖x‖ − R)²``, computed in float32 or wider."""
        with full_precision(embeddings.device.type):
            x = embeddings.to(compute_dtype(embeddings, self.radius))
            norms = unit_vectors(x)[1].squeeze(1)
            if not bool(self.radius_initialized):
                with torch.no_grad():
                    self.radius.copy_(norms.mean())
                    self.radius_initialized.fill_(True)
            radius = self.radius.to(x.dtype)
            return self.ring_weight / 2.0 * ((norms - radius) ** 2).mean()

    def forward(self, embeddings, labels, return_logits=False):
        """Primary loss plus the ring term; see :meth:`ProxyHead.forward`."""
        loss, logits = self.primary(embeddings, labels, return_logits=True)
        loss = loss + self.ring_term(embeddings)
        return (loss, logits) if return_logits else loss

    def predict_logits(self, embeddings):
        """The primary head's logits without margin."""
        return self.primary.predict_logits(embeddings)

    def extra_repr(self):
        return f"ring_weight={self.ring_weight:g}"
