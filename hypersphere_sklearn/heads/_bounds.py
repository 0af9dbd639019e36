"""Lower bounds on the scale of normalised softmax losses, and the warning when one is broken."""

import math
import warnings

from ._validation import check_int, check_real


class LowScaleWarning(UserWarning):
    """A fixed scale (NormFace's s, L2-softmax's α) is below the bound for the number of classes.

    With such a scale the loss cannot get near zero even for perfectly separated classes, so
    training stalls. Raise the scale or make it learnable.
    """


def normface_scale_lower_bound(n_classes, loss_floor=0.01):
    """Smallest NormFace scale ``s`` for which the loss can reach ``loss_floor``.

    With ``n`` classes and logits ``s·cos θ`` the softmax loss is at least
    ``log(1 + (n − 1)·exp(−n·s/(n − 1)))``, reached when the proxies form a regular simplex
    (Wang et al., 2017, Proposition 2). Solving for ``s`` at the wanted floor gives
    ``s = (n − 1)/n · log((n − 1)/(exp(loss_floor) − 1))``.

    Parameters
    ----------
    n_classes : int
        Number of classes, at least 2.
    loss_floor : float, default=0.01
        The loss value that must remain reachable.

    Returns
    -------
    float
        The bound on ``s``.

    Examples
    --------
    >>> round(normface_scale_lower_bound(10), 2)
    6.12
    >>> round(normface_scale_lower_bound(1000), 2)
    11.5
    """
    n = check_int("n_classes", n_classes, 2)
    floor = check_real("loss_floor", loss_floor, minimum=0.0, strict=True)
    return (n - 1) / n * math.log((n - 1) / math.expm1(floor))


def l2softmax_alpha_lower_bound(n_classes, p=0.9):
    """Smallest L2-softmax radius ``α`` that lets the mean correct-class probability reach ``p``.

    ``α_low = log(p·(C − 2)/(1 − p))`` (Ranjan et al., 2017, eq. 4). For two classes any
    ``α`` works and the bound is ``-inf``.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``, at least 2.
    p : float, default=0.9
        Target probability of the correct class, in (0, 1).

    Returns
    -------
    float
        The bound on ``α``.

    Examples
    --------
    >>> round(l2softmax_alpha_lower_bound(10), 2)
    4.28
    >>> round(l2softmax_alpha_lower_bound(10_000), 2)
    11.41
    """
    n = check_int("n_classes", n_classes, 2)
    p = check_real("p", p, minimum=0.0, strict=True, maximum=1.0)
    if p == 1.0:
        raise ValueError("p must be < 1; the bound is infinite at p = 1.")
    if n == 2:
        return -math.inf
    return math.log(p * (n - 2) / (1 - p))


def warn_if_below(name, value, bound, method, n_classes):
    """Emit :class:`LowScaleWarning` when a fixed scale is under its bound."""
    if value < bound:
        warnings.warn(
            f"{name}={value:g} is below the {method} lower bound {bound:.2f} for "
            f"{n_classes} classes: the loss cannot approach zero and training will stall. "
            f"Use {name} >= {bound:.2f} or make it learnable.",
            LowScaleWarning,
            stacklevel=3,
        )
