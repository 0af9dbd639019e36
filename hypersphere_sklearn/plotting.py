"""Plots of verification results and of features on the hypersphere (needs matplotlib).

Install the optional dependency with ``pip install hypersphere-sklearn[plot]``.
"""

import numpy as np

from .metrics import check_scores, roc_curve

__all__ = ["plot_hypersphere", "plot_roc", "plot_score_histograms"]


def pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # an optional dependency
        raise ImportError(
            "plotting needs matplotlib: pip install matplotlib (or hypersphere-sklearn[plot])."
        ) from error
    return plt


def new_axes(ax, projection=None):
    if ax is not None:
        return ax
    figure = pyplot().figure(figsize=(5, 5) if projection else (6, 4.5))
    return figure.add_subplot(projection=projection)


def as_curves(curves):
    """``{name: (scores, same)}`` from a dict or a single ``(scores, same)`` pair."""
    if isinstance(curves, dict):
        return curves
    scores, same = curves
    return {"": (scores, same)}


def plot_roc(curves, ax=None, det=False):
    """ROC curves (true-accept rate against false-accept rate) or DET curves of some models.

    Parameters
    ----------
    curves : dict of name -> (scores, same), or one (scores, same) pair
        Pair similarities and same/different labels of each model.
    ax : matplotlib Axes or None
        Where to draw; a new figure when None.
    det : bool, default=False
        Draw detection-error trade-off curves instead: false-reject against false-accept
        rate on normal-deviate axes, where good systems are straight lines near the origin.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from hypersphere_sklearn.plotting import plot_roc
    >>> ax = plot_roc({"a": ([0.9, 0.8, 0.4, 0.1], [1, 1, 0, 0])})
    >>> ax.get_xlabel()
    'false accept rate'
    """
    ax = new_axes(ax)
    for name, (scores, same) in as_curves(curves).items():
        scores, same = check_scores(scores, same)
        fpr, tpr, _ = roc_curve(same, scores)
        if det:
            from scipy.stats import norm

            clip = lambda p: np.clip(p, 1e-6, 1 - 1e-6)  # noqa: E731
            ax.plot(norm.ppf(clip(fpr)), norm.ppf(clip(1 - tpr)), label=name or None)
        else:
            ax.plot(fpr, tpr, label=name or None)
    if det:
        ticks = np.array([1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5])
        from scipy.stats import norm

        ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        ax.set_ylabel("false reject rate")
        ax.set_title("DET curve")
    else:
        ax.set_xscale("log")
        ax.set_xlim(1e-4, 1)
        ax.set_ylabel("true accept rate")
        ax.set_title("ROC curve")
    ax.set_xlabel("false accept rate")
    ax.grid(True, which="both", alpha=0.3)
    if any(as_curves(curves)):
        ax.legend(loc="best")
    return ax


def plot_score_histograms(scores, same, threshold=None, ax=None, bins=50):
    """Histograms of genuine and impostor pair similarities, with the threshold if given.

    Returns
    -------
    matplotlib Axes
    """
    scores, same = check_scores(scores, same)
    ax = new_axes(ax)
    edges = np.linspace(scores.min(), scores.max(), bins + 1)
    ax.hist(scores[same], bins=edges, alpha=0.6, density=True, label="genuine (same person)")
    ax.hist(scores[~same], bins=edges, alpha=0.6, density=True, label="impostor")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.legend(loc="best")
    return ax


def plot_hypersphere(embeddings, labels, ax=None, normalize=True):
    """2-D or 3-D features on the unit circle or sphere, coloured by identity (the papers'
    figures: train an embedder with ``embedding_dim=2`` or ``3`` to draw them).

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, 2) or (n_samples, 3)
    labels : array-like of shape (n_samples,)
    ax : matplotlib Axes or None
        For 3-D features, an Axes with ``projection="3d"``.
    normalize : bool, default=True
        Put the points on the sphere; False shows the raw features (their norms too).

    Returns
    -------
    matplotlib Axes
    """
    E = np.asarray(embeddings, dtype=np.float64)
    if E.ndim != 2 or E.shape[1] not in (2, 3):
        raise ValueError(
            f"plot_hypersphere draws 2-D or 3-D features; got shape {E.shape}. Train with "
            "embedding_dim=2 or 3, as the papers' figures do."
        )
    if normalize:
        E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels)
    codes = np.unique(labels, return_inverse=True)[1]
    ax = new_axes(ax, projection="3d" if E.shape[1] == 3 else None)
    t = np.linspace(0, 2 * np.pi, 200)
    if E.shape[1] == 2:
        ax.plot(np.cos(t), np.sin(t), color="0.7", linewidth=1)
        ax.scatter(E[:, 0], E[:, 1], c=codes, cmap="tab20", s=12)
        ax.set_aspect("equal")
    else:
        u, v = np.meshgrid(t[::8], np.linspace(0, np.pi, 13))
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v),
                          color="0.8", linewidth=0.5)
        ax.scatter(E[:, 0], E[:, 1], E[:, 2], c=codes, cmap="tab20", s=12, depthshade=False)
        ax.set_box_aspect((1, 1, 1))
    ax.set_title("features on the hypersphere" if normalize else "features")
    return ax
