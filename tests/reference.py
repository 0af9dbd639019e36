"""Every loss recomputed from its formula in float64 NumPy, one sample at a time.

Written from ``shared/reference/losses.md`` without using the library, so that a test comparing
the two fails if the library's math is wrong.
"""

import math

import numpy as np


def cross_entropy(z, y):
    top = z.max()
    return -z[y] + top + math.log(np.exp(z - top).sum())


def unit(v):
    return v / np.linalg.norm(v)


def cosines(x, weight):
    return np.array([unit(x) @ unit(w) for w in weight])


def softmax_loss(x, y, weight, bias):
    return np.mean([cross_entropy(weight @ xi + bias, yi) for xi, yi in zip(x, y, strict=True)])


def l2_softmax_loss(x, y, weight, bias, alpha):
    return np.mean(
        [cross_entropy(weight @ (alpha * unit(xi)) + bias, yi) for xi, yi in zip(x, y, strict=True)]
    )


def margin_loss(x, y, weight, psi, eta=None, scale=None, penalty=None):
    """CE over z_y = S·ψ(θ_y), z_j = S·η(θ_j); ψ, η take the angle θ in radians."""
    eta = eta or math.cos
    losses = []
    for xi, yi in zip(x, y, strict=True):
        s = np.linalg.norm(xi) if scale is None else scale
        theta = np.arccos(np.clip(cosines(xi, weight), -1, 1))
        z = np.array([s * (psi(t) if j == yi else eta(t)) for j, t in enumerate(theta)])
        losses.append(cross_entropy(z, yi))
    loss = np.mean(losses)
    if penalty is not None:
        loss += np.mean([penalty(np.linalg.norm(xi)) for xi in x])
    return loss


def normface_loss(x, y, weight, scale):
    return margin_loss(x, y, weight, math.cos, scale=scale)


def cosface_loss(x, y, weight, scale, margin):
    return margin_loss(x, y, weight, lambda t: math.cos(t) - margin, scale=scale)


def arcface_loss(x, y, weight, scale, margin, beyond_pi="fallback"):
    def psi(t):
        if beyond_pi == "clip":
            return math.cos(min(t + margin, math.pi))
        if beyond_pi == "easy":
            return math.cos(t + margin) if math.cos(t) > 0 else math.cos(t)
        if t + margin <= math.pi:
            return math.cos(t + margin)
        return math.cos(t) - margin * math.sin(margin)

    return margin_loss(x, y, weight, psi, scale=scale)


def a_softmax_loss(x, y, weight, margin, lam, scale=None):
    def psi(t):
        k = math.floor(margin * t / math.pi)
        return ((-1) ** k * math.cos(margin * t) - 2 * k + lam * math.cos(t)) / (1 + lam)

    return margin_loss(x, y, weight, psi, scale=scale)


def sphereface_r_loss(x, y, weight, margin, scale, version, feature_norm, norm_penalty=0.01):
    if version == "v1":
        psi, eta = (lambda t: math.cos(min(margin * t, math.pi))), None
    else:
        psi, eta = math.cos, (lambda t: math.cos(t / margin))
    penalty = None
    if feature_norm == "soft":
        penalty = lambda norm: norm_penalty * abs(norm - scale)  # noqa: E731
    return margin_loss(
        x, y, weight, psi, eta, scale=scale if feature_norm == "hard" else None, penalty=penalty
    )


def agent_distances(xi, weight):
    return np.array([np.sum((unit(xi) - unit(w)) ** 2) for w in weight])


def c_contrastive_loss(x, y, weight, margin, hardest=False):
    losses = []
    for xi, yi in zip(x, y, strict=True):
        d = agent_distances(xi, weight)
        terms = [max(0.0, margin - d[j]) for j in range(len(d)) if j != yi]
        losses.append(d[yi] + (max(terms) if hardest else sum(terms)))
    return np.mean(losses)


def c_triplet_loss(x, y, weight, margin, hardest=False):
    losses = []
    for xi, yi in zip(x, y, strict=True):
        d = agent_distances(xi, weight)
        terms = [max(0.0, margin + d[yi] - d[j]) for j in range(len(d)) if j != yi]
        losses.append(max(terms) if hardest else sum(terms))
    return np.mean(losses)


def ring_term(x, radius, ring_weight):
    norms = np.linalg.norm(x, axis=1)
    return ring_weight / (2 * len(x)) * np.sum((norms - radius) ** 2)
