"""The shared core of the hypersphere losses, and NormFace, CosFace and ArcFace on it.

Every head here is cross-entropy over modified logits (``losses.md`` §1)::

    z_y = S(x) · ψ(cos θ_y)      the target class
    z_j = S(x) · η(cos θ_j)      every other class

A subclass states S (``feature_scale``), ψ (``target``) and η (``non_target``); each returns
``None`` where the method leaves the cosine unchanged, so no work is spent on it. With
``gradient_detach`` the offsets ψ − cos θ and η − cos θ are computed without gradient: the
forward value carries the margin, the backward pass is that of S·cos θ (SphereFace-R's
characteristic gradient detachment).
"""

import math

import torch
import torch.nn.functional as F

from ._base import ProxyHead, check_scale, cosine_matrix, unit_vectors
from ._bounds import normface_scale_lower_bound, warn_if_below
from ._validation import check_choice, check_real

#: cos θ is kept inside [−1 + COS_EPS, 1 − COS_EPS] before acos or sqrt(1 − cos²), whose
#: derivatives are infinite at ±1.
COS_EPS = 1e-6


def angle(cos):
    """θ = acos(cos θ), clamped away from the infinite-derivative ends."""
    return torch.acos(cos.clamp(-1.0 + COS_EPS, 1.0 - COS_EPS))


def cos_of_scaled_angle(cos, factor):
    """cos(factor·θ) for every entry; in place on one buffer when no gradient is recorded."""
    if torch.is_grad_enabled() and cos.requires_grad:
        return torch.cos(angle(cos) * factor)
    return cos.clamp(-1.0 + COS_EPS, 1.0 - COS_EPS).acos_().mul_(factor).cos_()


class AngularMarginHead(ProxyHead):
    """Template for heads whose logits are ``S(x)·ψ(cos θ_y)`` and ``S(x)·η(cos θ_j)``.

    Proxies and features are normalised; there is no bias. Subclasses override
    ``feature_scale``, ``target``, ``non_target`` and ``penalty``.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    scale : float or None
        Fixed scale ``s``; ``None`` uses the feature norm ``‖x‖``.
    learn_scale : bool, default=False
        Train ``s`` as a parameter (initialised at ``scale``).
    """

    gradient_detach = False

    def __init__(self, n_classes, embedding_dim, scale, learn_scale=False):
        super().__init__(n_classes, embedding_dim)
        self.learn_scale = bool(learn_scale)
        if scale is None:
            self.scale = None
        else:
            self.register_scalar("scale", check_scale("scale", scale), self.learn_scale)

    # -- what each method states -----------------------------------------------------------
    def feature_scale(self, norms):
        """S(x): the fixed scale, or the feature norms (shape (batch, 1)) when there is none."""
        return norms if self.scale is None else self.scale.to(norms.dtype)

    def target(self, cos):
        """ψ applied to the target cosines (batch, 1); ``None`` for no change."""
        return None

    def non_target(self, cos):
        """η applied to the cosine matrix (batch, n_classes); ``None`` for no change."""
        return None

    def penalty(self, norms):
        """An extra term on the feature norms added to the loss; ``None`` for none."""
        return None

    # -- the shared core -------------------------------------------------------------------
    def logits(self, x, labels=None):
        direction, norms = unit_vectors(x)
        cos = cosine_matrix(direction, self.weight.to(x.dtype))
        return self.logits_from_cosine(cos, labels, norms)

    def logits_from_cosine(self, cos, labels=None, norms=None):
        """Logits from the cosine matrix; with ``labels=None`` the plain ``S·cos θ``.

        ``norms`` (batch, 1) are the feature norms, needed when S is the norm.
        """
        scale = self.feature_scale(norms)
        if labels is None:
            return scale * cos
        index = labels[:, None]
        others = self.modified(self.non_target, cos)
        logits = scale * (cos if others is None else others)
        target_cos = cos.gather(1, index)
        target = self.modified(self.target, target_cos)
        if target is None and others is not None:
            target = target_cos  # η was applied to every column; the target keeps cos θ_y
        if target is not None:
            # ``logits`` is a fresh tensor autograd does not keep, so it may be written in place.
            logits.scatter_(1, index, scale * target)
        return logits

    def modified(self, margin_function, cos):
        """``margin_function(cos)``, or ``cos`` plus its offset without gradient when detaching."""
        if not self.gradient_detach:
            return margin_function(cos)
        with torch.no_grad():
            changed = margin_function(cos)
            if changed is None:
                return None
            offset = changed.sub_(cos)  # a fresh tensor outside autograd: reuse its memory
        return cos + offset

    def loss(self, logits, labels, x):
        loss = F.cross_entropy(logits, labels)
        extra = self.penalty(unit_vectors(x)[1])
        return loss if extra is None else loss + extra

    def extra_repr(self):
        scale = "norm" if self.scale is None else f"{float(self.scale):g}"
        return f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, scale={scale}"


class NormFaceHead(AngularMarginHead):
    """NormFace: softmax over ``s·cos θ`` with normalised features and proxies, no bias.

    The scale is fixed or learnable (initialised at ``scale`` and floored at ``scale_min``, as
    in the original code). A fixed scale below :func:`normface_scale_lower_bound` for
    ``n_classes`` raises a :class:`LowScaleWarning`: the loss could not approach zero.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    scale : float, default=16.0
        The scale ``s`` (initial value when ``learn_scale``).
    learn_scale : bool, default=False
        Train ``s`` as a parameter.
    scale_min : float, default=0.01
        Floor of a learnable scale.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        Class proxies ("agents").
    scale : torch.Tensor
        Scalar ``s``: a parameter when learnable, otherwise a buffer.

    See Also
    --------
    CContrastiveHead, CTripletHead : NormFace's agent-based metric-learning losses.
    CosFaceHead, ArcFaceHead : NormFace with an additive margin.

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng, A. L. Yuille, "NormFace: L2 Hypersphere Embedding for
       Face Verification", ACM Multimedia 2017, arXiv:1704.06369.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import NormFaceHead
    >>> head = NormFaceHead(n_classes=10, embedding_dim=8, scale=16.0)
    >>> loss, logits = head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]), return_logits=True)
    >>> logits.shape
    torch.Size([4, 10])
    >>> bool(logits.abs().max() <= 16.0)
    True
    """

    def __init__(self, n_classes, embedding_dim, scale=16.0, learn_scale=False, scale_min=0.01):
        scale = check_scale("scale", scale)
        scale_min = check_real("scale_min", scale_min, minimum=0.0, strict=True)
        if learn_scale and scale < scale_min:
            raise ValueError(f"scale={scale:g} must be >= scale_min={scale_min:g}.")
        super().__init__(n_classes, embedding_dim, scale=scale, learn_scale=learn_scale)
        self.scale_min = scale_min
        if not self.learn_scale:
            bound = normface_scale_lower_bound(self.n_classes)
            warn_if_below("scale", scale, bound, "NormFace", self.n_classes)

    def feature_scale(self, norms):
        scale = self.scale.to(norms.dtype)
        return scale.clamp(min=self.scale_min) if self.learn_scale else scale


class CosFaceHead(AngularMarginHead):
    """CosFace (large-margin cosine loss): target logit ``s·(cos θ_y − m)``.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    scale : float, default=64.0
        The scale ``s``.
    margin : float, default=0.35
        The additive cosine margin ``m`` (>= 0).

    See Also
    --------
    ArcFaceHead : additive angular margin.
    NormFaceHead : the same without a margin.

    References
    ----------
    .. [1] H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition",
       CVPR 2018, arXiv:1801.09414.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import CosFaceHead
    >>> head = CosFaceHead(n_classes=10, embedding_dim=8, scale=30.0, margin=0.35)
    >>> bool(torch.isfinite(head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))))
    True
    """

    def __init__(self, n_classes, embedding_dim, scale=64.0, margin=0.35):
        super().__init__(n_classes, embedding_dim, scale=scale)
        self.margin = check_real("margin", margin, minimum=0.0)

    def target(self, cos):
        return cos - self.margin

    def extra_repr(self):
        return f"{super().extra_repr()}, margin={self.margin:g}"


class ArcFaceHead(AngularMarginHead):
    """ArcFace (additive angular margin): target logit ``s·cos(θ_y + m)``.

    ``cos(θ + m)`` stops decreasing once ``θ + m > π``; ``beyond_pi`` chooses what the target
    logit is there:

    - ``"fallback"`` (default, classic InsightFace and pytorch-metric-learning):
      ``cos θ − m·sin m`` when ``θ > π − m``, which keeps the logit decreasing in θ;
    - ``"easy"``: the margin only where ``cos θ > 0``, plain ``cos θ`` elsewhere;
    - ``"clip"`` (opensphere, current InsightFace): ``cos(min(θ + m, π))`` with the offset
      computed without gradient, so the backward pass is that of ``s·cos θ``.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    scale : float, default=64.0
        The scale ``s``.
    margin : float, default=0.5
        The angular margin ``m`` in radians, in [0, π).
    beyond_pi : {"fallback", "easy", "clip"}, default="fallback"
        Target logit where ``θ + m > π`` (see above).

    See Also
    --------
    CosFaceHead : additive cosine margin.
    SphereFaceRHead : multiplicative angular margin.

    References
    ----------
    .. [1] J. Deng, J. Guo, N. Xue, S. Zafeiriou, "ArcFace: Additive Angular Margin Loss for
       Deep Face Recognition", CVPR 2019, arXiv:1801.07698.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import ArcFaceHead
    >>> head = ArcFaceHead(n_classes=10, embedding_dim=8, scale=30.0, margin=0.5)
    >>> bool(torch.isfinite(head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))))
    True
    """

    def __init__(self, n_classes, embedding_dim, scale=64.0, margin=0.5, beyond_pi="fallback"):
        super().__init__(n_classes, embedding_dim, scale=scale)
        self.margin = check_real("margin", margin, minimum=0.0)
        if self.margin >= math.pi:
            raise ValueError(f"margin must be < π (it is in radians); got {self.margin}.")
        self.beyond_pi = check_choice("beyond_pi", beyond_pi, ("fallback", "easy", "clip"))
        self.gradient_detach = self.beyond_pi == "clip"

    def target(self, cos):
        if self.beyond_pi == "clip":
            return torch.cos((angle(cos) + self.margin).clamp(max=math.pi))
        # cos(θ + m) = cos θ cos m − sin θ sin m, with sin θ >= 0 on [0, π].
        sin = torch.sqrt((1.0 - cos * cos).clamp(min=COS_EPS))
        shifted = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        if self.beyond_pi == "easy":
            return torch.where(cos > 0, shifted, cos)
        fallback = cos - self.margin * math.sin(self.margin)
        return torch.where(cos >= -math.cos(self.margin), shifted, fallback)

    def extra_repr(self):
        return f"{super().extra_repr()}, margin={self.margin:g}, beyond_pi={self.beyond_pi!r}"
