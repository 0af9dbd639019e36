"""Multiplicative angular margins: SphereFace (A-Softmax) and SphereFace-R (v1, v2)."""

import math

import torch

from ._angular import AngularMarginHead, angle, cos_of_scaled_angle
from ._validation import check_choice, check_int, check_real


def chebyshev(cos, degree):
    """cos(m·θ) as the Chebyshev polynomial T_m(cos θ): exact gradients, no acos."""
    previous, current = torch.ones_like(cos), cos
    if degree == 0:
        return previous
    for _ in range(degree - 1):
        previous, current = current, 2 * cos * current - previous
    return current


class IterationCounter:
    """Mixin for heads whose loss follows a schedule in training iterations."""

    def init_counter(self):
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def advance(self):
        self.iteration += 1


class SphereFaceHead(IterationCounter, AngularMarginHead):
    """SphereFace (A-Softmax): target logit ``S·ψ(θ_y)`` with ``ψ = (−1)^k cos(mθ) − 2k``.

    ``k = ⌊mθ/π⌋`` makes ψ monotone on [0, π]. As in the original training, the target logit is
    annealed from the plain softmax one: ``(λ·S·cos θ + S·ψ(θ)) / (1 + λ)`` with
    ``λ = max(lambda_min, lambda_base·(1 + lambda_gamma·iteration)^(−lambda_power))``, where
    ``iteration`` counts training forward passes. ``S`` is the feature norm (the original
    method) or a fixed ``scale``.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    margin : int, default=4
        The integer multiplicative margin ``m`` (>= 1).
    scale : float or None, default=None
        ``None`` for ``S = ‖x‖``; a number for a fixed scale on normalised features.
    lambda_base, lambda_gamma, lambda_power, lambda_min : float, default=1000, 0.12, 1, 5
        The λ annealing schedule. ``lambda_base=0, lambda_min=0`` gives the pure A-Softmax.

    Attributes
    ----------
    iteration : torch.Tensor
        Number of training forward passes so far (a buffer, saved with the state).

    See Also
    --------
    SphereFaceRHead : the revived multiplicative margin (real-valued m, v1/v2, CGD).

    References
    ----------
    .. [1] W. Liu et al., "SphereFace: Deep Hypersphere Embedding for Face Recognition",
       CVPR 2017, arXiv:1704.08063.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import SphereFaceHead
    >>> head = SphereFaceHead(n_classes=10, embedding_dim=8, margin=4)
    >>> head.current_lambda()
    1000.0
    >>> _ = head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))
    >>> int(head.iteration)
    1
    """

    def __init__(
        self,
        n_classes,
        embedding_dim,
        margin=4,
        scale=None,
        lambda_base=1000.0,
        lambda_gamma=0.12,
        lambda_power=1.0,
        lambda_min=5.0,
    ):
        super().__init__(n_classes, embedding_dim, scale=scale)
        self.margin = check_int("margin", margin, 1)
        self.lambda_base = check_real("lambda_base", lambda_base, minimum=0.0)
        self.lambda_gamma = check_real("lambda_gamma", lambda_gamma, minimum=0.0)
        self.lambda_power = check_real("lambda_power", lambda_power, minimum=0.0)
        self.lambda_min = check_real("lambda_min", lambda_min, minimum=0.0)
        self.init_counter()

    def current_lambda(self):
        """λ at the current iteration."""
        decayed = self.lambda_base * (1 + self.lambda_gamma * int(self.iteration)) ** (
            -self.lambda_power
        )
        return max(self.lambda_min, decayed)

    def target(self, cos):
        with torch.no_grad():
            k = torch.floor(self.margin * torch.acos(cos.clamp(-1.0, 1.0)) / math.pi)
            k = k.clamp(max=self.margin - 1)  # θ = π exactly: the same value from either side
            sign = 1 - 2 * torch.remainder(k, 2)
        psi = sign * chebyshev(cos, self.margin) - 2 * k
        lam = self.current_lambda()
        return (lam * cos + psi) / (1 + lam)

    def extra_repr(self):
        return f"{super().extra_repr()}, margin={self.margin}, lambda={self.current_lambda():g}"


class SphereFaceRHead(IterationCounter, AngularMarginHead):
    """SphereFace-R: the revived multiplicative angular margin.

    Two ways to put the margin ``m`` on the decision boundary ``m·θ_y = θ_j``:

    - ``version="v1"``: target ``cos(min(m·θ_y, π))``, others ``cos θ_j``;
    - ``version="v2"``: target ``cos θ_y``, others ``cos(θ_j / m)``.

    Three feature normalisations (the scale S of the logits):

    - ``"hard"``: ``S = scale`` on normalised features (the scheme the authors tested);
    - ``"none"``: ``S = ‖x‖``;
    - ``"soft"``: ``S = ‖x‖`` plus the penalty ``norm_penalty·mean|‖x‖ − scale|``.

    With ``"none"`` and ``"soft"`` the margin is raised linearly from 1 to ``margin`` over the
    first ``margin_warmup_steps`` training iterations, since a full margin on unnormalised
    features from the start does not train.

    With ``gradient_detach`` (characteristic gradient detachment, the default) the margin
    offsets are computed without gradient: the loss value carries the margin, its gradient is
    that of ``S·cos θ``, and the unbounded derivative of ``cos(m·θ)`` near θ = 0 or π never
    enters. The reference code's loss weight ``lw/s`` is only a learning-rate factor and is
    left out.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    embedding_dim : int
        Dimension of the embeddings.
    margin : float, default=1.5
        Multiplicative margin ``m`` (>= 1; the reference configurations use 1.4 to 1.7).
    scale : float, default=30.0
        ``s``: the logit scale with ``"hard"``, the target norm with ``"soft"``.
    version : {"v1", "v2"}, default="v1"
        Where the margin goes (see above).
    feature_norm : {"hard", "soft", "none"}, default="hard"
        Feature normalisation (see above).
    gradient_detach : bool, default=True
        Characteristic gradient detachment.
    norm_penalty : float, default=0.01
        Weight ``t`` of the soft normalisation penalty.
    margin_warmup_steps : int or None, default=None
        Iterations over which the margin ramps up from 1; ``None`` means 0 for ``"hard"`` and
        2000 for ``"soft"`` and ``"none"``.

    Attributes
    ----------
    iteration : torch.Tensor
        Number of training forward passes so far (a buffer, saved with the state).

    See Also
    --------
    SphereFaceHead : the original integer-margin A-Softmax.
    ArcFaceHead, CosFaceHead : additive margins.

    References
    ----------
    .. [1] W. Liu, Y. Wen, B. Raj, R. Singh, A. Weller, "SphereFace Revived: Unifying
       Hyperspherical Face Recognition", IEEE TPAMI 2022, arXiv:2109.05565.

    Examples
    --------
    >>> import torch
    >>> from hypersphere_sklearn.heads import SphereFaceRHead
    >>> head = SphereFaceRHead(n_classes=10, embedding_dim=8, margin=1.5, version="v2")
    >>> bool(torch.isfinite(head(torch.randn(4, 8), torch.tensor([0, 3, 3, 9]))))
    True
    """

    def __init__(
        self,
        n_classes,
        embedding_dim,
        margin=1.5,
        scale=30.0,
        version="v1",
        feature_norm="hard",
        gradient_detach=True,
        norm_penalty=0.01,
        margin_warmup_steps=None,
    ):
        super().__init__(n_classes, embedding_dim, scale=scale)
        self.feature_norm = check_choice("feature_norm", feature_norm, ("hard", "soft", "none"))
        self.margin = check_real("margin", margin, minimum=1.0)
        self.version = check_choice("version", version, ("v1", "v2"))
        self.gradient_detach = bool(gradient_detach)
        self.norm_penalty = check_real("norm_penalty", norm_penalty, minimum=0.0)
        if margin_warmup_steps is None:
            margin_warmup_steps = 0 if self.feature_norm == "hard" else 2000
        self.margin_warmup_steps = check_int("margin_warmup_steps", margin_warmup_steps, 0)
        self.init_counter()

    def current_margin(self):
        """The margin at the current iteration (ramped up from 1 during the warm-up)."""
        if self.margin_warmup_steps == 0:
            return self.margin
        progress = min(1.0, int(self.iteration) / self.margin_warmup_steps)
        return 1.0 + (self.margin - 1.0) * progress

    def feature_scale(self, norms):
        return self.scale.to(norms.dtype) if self.feature_norm == "hard" else norms

    def target(self, cos):
        if self.version == "v1":
            return torch.cos((self.current_margin() * angle(cos)).clamp(max=math.pi))
        return None

    def non_target(self, cos):
        if self.version == "v2":
            return cos_of_scaled_angle(cos, 1.0 / self.current_margin())
        return None

    def penalty(self, norms):
        if self.feature_norm != "soft":
            return None
        return self.norm_penalty * (norms - self.scale.to(norms.dtype)).abs().mean()

    def extra_repr(self):
        return (
            f"{super().extra_repr()}, margin={self.margin:g}, version={self.version!r}, "
            f"feature_norm={self.feature_norm!r}, gradient_detach={self.gradient_detach}"
        )
