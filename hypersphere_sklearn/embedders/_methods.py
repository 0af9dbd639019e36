"""One embedder per method: its loss hyperparameters as constructor arguments, and its head."""

from .. import heads
from ..heads._validation import check_choice
from ._base import HypersphereEmbedder

COMMON_PARAMETERS = """
    backbone : str, torch.nn.Module class or instance, default="auto"
        ``"auto"`` picks ``"mlp"`` for 2-D data, ``"small-cnn"`` for images up to 64 px and
        ``"resnet"`` above; also ``"sphere4"``, ``"sphere10"``, ``"sphere20"`` (SphereFace's
        face CNNs). A module class is built with ``backbone__*`` arguments (plus
        ``in_channels``/``embedding_dim`` when it takes them); an instance is deep-copied,
        so a fitted embedder's trained backbone, ``module_[1]``, starts a fine-tuning.
    embedding_dim : int or None, default=None
        Embedding width: 128 for built-in backbones when None; for a user module, None infers
        it from the module's output.
    max_epochs : int, default=24
        Training epochs (24 with random shifts did best on LFW View 1; see
        ``docs/benchmarks.md``).
    batch_size : int, default=64
        Batch size of training and of ``transform``.
    lr : float, default=2e-3
        Learning rate.
    optimizer : torch.optim.Optimizer class, default=torch.optim.AdamW
        Optimizer; further arguments as ``optimizer__momentum=...``.
    weight_decay : float, default=0.5
        Weight decay of weight matrices and kernels. Biases, normalisation layers and the
        learnable scalars (scale, α, radius) get none. Tuned on LFW View 1 for AdamW, whose
        decay is decoupled from the gradient: each step shrinks a weight by
        ``lr * weight_decay``. With another ``optimizer`` it is an L2 penalty, where 0.5 is
        far too strong (a warning says so): set about 5e-4 with it.
    lr_schedule : {"cosine", None}, default="cosine"
        Cosine annealing of the learning rate over ``max_epochs``, or a constant rate. The
        rate of each epoch depends on its number alone, so a resumed run follows the same
        schedule as an uninterrupted one.
    max_grad_norm : float or None, default=None
        Clip the total norm of the gradients to this value before each step (gradient
        clipping); None does not clip. Steps whose loss or gradients are not finite are never
        taken: training stops with a ``TrainingDivergedError`` naming the epoch, the batch,
        the likely cause and the fix, and the embedder keeps its last good weights.
    random_flip : bool, default=True
        Flip half of each training batch of images horizontally.
    random_shift : float, default=0.05
        Shift each training image by a random whole number of pixels, up to this share of
        its height and width in each direction (edge pixels fill the border); 0 does not
        shift. Images only. The default, about 3 pixels of a 62x47 face, was chosen on LFW
        View 1, where it lets longer training keep improving (docs/benchmarks.md).
    flip_fusion : bool, default=False
        At ``transform``, add the features of each image and of its mirror before normalising
        (NormFace's test-time fusion).
    calibration_holdout : float or int, default=0.2
        Share (or number) of identities kept out of training. They are still embedded; in a
        pipeline, a following :class:`~hypersphere_sklearn.CosineVerifier` calibrates its
        threshold on them, people the network never saw, instead of on training images whose
        pairs look more alike than new people's. None are held out unless at least 2 can be
        and at least 2 remain; 0 trains on every identity.
    image_loader : ImageLoader or None, default=None
        How file paths passed as X are decoded (size, crop, colour, what to do with corrupt
        files); None uses ``ImageLoader()``: grayscale, size kept, errors raised.
    mixed_precision : {None, "bf16", "fp16"}, default=None
        Autocast the backbone; the loss head always computes in float32. On a CPU with
        native bfloat16 instructions (AVX512-BF16 or AMX) ``"bf16"`` trains the small CNN
        about twice as fast at the same accuracy (``docs/benchmarks.md``); other CPUs emulate
        bfloat16 (and float16) and train about ten times slower, so ``fit`` warns on an x86
        CPU without them: ``benchmarks/bench_embedders.py`` measures yours.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; or any torch device.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and augmentation: the same data and seed give
        identical embeddings on the CPU.
    verbose : int, default=1
        Print skorch's table of epoch, loss and duration.
    progress_bar : bool, default=False
        Also show a progress bar over the batches of each epoch.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        Extra skorch callbacks.
    train_split : callable or None, default=None
        skorch's internal validation split (e.g. ``skorch.dataset.ValidSplit(5)``).
    iterator_train, iterator_valid : class, default=torch.utils.data.DataLoader
        Data loaders; arguments as ``iterator_train__num_workers=2``.
    warm_start : bool, default=False
        ``fit`` continues the training so far (or the checkpoint in ``checkpoint_dir``), with
        its optimizer state, schedule and random state, until ``max_epochs`` epochs in all,
        as gradient boosting continues to ``n_estimators``; raise ``max_epochs`` to train
        longer. ``partial_fit`` always continues, for ``max_epochs`` more epochs.
    checkpoint_dir : str, path or None, default=None
        Write the whole training state to ``<checkpoint_dir>/checkpoint.safetensors`` after
        each epoch (atomically, in the safe format). With ``warm_start=True`` a new estimator
        with the same settings resumes from it and ends with the same weights as an
        uninterrupted run (on the CPU). Do not share one directory between parallel fits.
    compile : bool, default=False
        ``torch.compile`` the backbone and the head (arguments as ``compile__mode=...``).
"""

COMMON_ATTRIBUTES = """
    classes_ : ndarray of shape (n_classes,)
        The identity labels seen in ``fit``.
    n_classes_ : int
        Number of identities.
    holdout_classes_ : ndarray
        Identities held out of training (see ``calibration_holdout``).
    training_classes_ : ndarray
        Identities the head was trained on.
    embedding_dim_ : int
        Width of the embeddings.
    input_spec_ : InputSpec
        Shape and pixel range of the training inputs.
    n_features_in_ : int
        Number of features (2-D data only).
    module_ : torch.nn.Module
        Input scaling followed by the backbone.
    criterion_ : torch.nn.Module
        The loss head, with its class proxies.
    history_ : skorch.History
        Per-epoch training record (loss, learning rate, duration); only completed epochs.
    rng_state_ : dict of torch.Tensor
        torch's random state at the end of the last completed epoch, from which a warm start
        continues.
"""


def documented(cls):
    """Fill the common parameter and attribute sections into ``cls``'s docstring."""
    cls.__doc__ = cls.__doc__.replace("    {common_parameters}\n", COMMON_PARAMETERS.lstrip("\n"))
    cls.__doc__ = cls.__doc__.replace("    {common_attributes}\n", COMMON_ATTRIBUTES.lstrip("\n"))
    return cls


@documented
class SoftmaxEmbedder(HypersphereEmbedder):
    """Embeddings trained with the plain softmax loss: the baseline of the papers.

    Parameters
    ----------
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    NormFaceEmbedder : the normalised softmax.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import SoftmaxEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> embedder = SoftmaxEmbedder(max_epochs=3, verbose=0, random_state=0).fit(X, y)
    >>> embedder.transform(X).shape
    (60, 128)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.SoftmaxHead(n_classes, embedding_dim)


@documented
class NormFaceEmbedder(HypersphereEmbedder):
    """Embeddings trained with NormFace: softmax over ``s·cos θ`` on the hypersphere.

    Parameters
    ----------
    scale : float, default=16.0
        The scale ``s`` (its initial value when ``learn_scale``). A fixed scale below
        :func:`~hypersphere_sklearn.heads.normface_scale_lower_bound` for the number of
        identities raises a ``LowScaleWarning``.
    learn_scale : bool, default=False
        Learn ``s`` (floored at 0.01), as in the original code.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    CContrastiveEmbedder, CTripletEmbedder : NormFace's agent-based metric learning.
    CosFaceEmbedder, ArcFaceEmbedder : NormFace with an additive margin.

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng, A. L. Yuille, "NormFace: L2 Hypersphere Embedding for
       Face Verification", ACM Multimedia 2017, arXiv:1704.06369.

    Examples
    --------
    >>> import numpy as np
    >>> from hypersphere_sklearn import NormFaceEmbedder
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(40, 32, 32), dtype=np.uint8)
    >>> names = np.repeat(["ann", "bob", "cyd", "dan"], 10)
    >>> embedder = NormFaceEmbedder(max_epochs=2, verbose=0, random_state=0)
    >>> embeddings = embedder.fit(images, names).transform(images)
    >>> embeddings.shape, embedder.classes_.tolist()
    ((40, 128), ['ann', 'bob', 'cyd', 'dan'])
    >>> bool(np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5))
    True
    """

    def __init__(self, scale=16.0, learn_scale=False, **kwargs):
        self.scale = scale
        self.learn_scale = learn_scale
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.NormFaceHead(
            n_classes, embedding_dim, scale=self.scale, learn_scale=self.learn_scale
        )


@documented
class CContrastiveEmbedder(HypersphereEmbedder):
    """Embeddings trained with NormFace's agent-based C-contrastive loss.

    Parameters
    ----------
    margin : float, default=1.0
        Margin ``m`` on the squared distance to other agents.
    hardest_negative : bool, default=False
        Push only the nearest other agent.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    CTripletEmbedder, NormFaceEmbedder

    References
    ----------
    .. [1] F. Wang et al., "NormFace", ACM Multimedia 2017, arXiv:1704.06369, §4.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import CContrastiveEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> CContrastiveEmbedder(max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, margin=1.0, hardest_negative=False, **kwargs):
        self.margin = margin
        self.hardest_negative = hardest_negative
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.CContrastiveHead(
            n_classes, embedding_dim, margin=self.margin, hardest_negative=self.hardest_negative
        )


@documented
class CTripletEmbedder(HypersphereEmbedder):
    """Embeddings trained with NormFace's agent-based C-triplet loss.

    Parameters
    ----------
    margin : float, default=0.8
        Margin ``m`` between the squared distances to the own and to other agents.
    hardest_negative : bool, default=True
        Keep only the nearest other agent (the reference code's choice); ``False`` sums the
        hinge over every other agent, as the paper writes the loss. The default since
        2026-12-02: trained from scratch on LFW View 1, the hardest negative reached 87.2 and
        86.7 % (two seeds) against 84.3 % with the sum (docs/benchmarks.md).
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    CContrastiveEmbedder, NormFaceEmbedder

    References
    ----------
    .. [1] F. Wang et al., "NormFace", ACM Multimedia 2017, arXiv:1704.06369, §4.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import CTripletEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> CTripletEmbedder(max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, margin=0.8, hardest_negative=True, **kwargs):
        self.margin = margin
        self.hardest_negative = hardest_negative
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.CTripletHead(
            n_classes, embedding_dim, margin=self.margin, hardest_negative=self.hardest_negative
        )


@documented
class L2SoftmaxEmbedder(HypersphereEmbedder):
    """Embeddings trained with the L2-constrained softmax: features rescaled to norm ``α``.

    Parameters
    ----------
    alpha : float, default=16.0
        The radius ``α`` (its initial value when ``learn_alpha``). A fixed ``α`` below
        :func:`~hypersphere_sklearn.heads.l2softmax_alpha_lower_bound` raises a
        ``LowScaleWarning``.
    learn_alpha : bool, default=False
        Learn ``α``.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    NormFaceEmbedder, RingLossEmbedder

    References
    ----------
    .. [1] R. Ranjan, C. D. Castillo, R. Chellappa, "L2-constrained Softmax Loss for
       Discriminative Face Verification", arXiv:1703.09507, 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import L2SoftmaxEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> L2SoftmaxEmbedder(alpha=8.0, max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, alpha=16.0, learn_alpha=False, **kwargs):
        self.alpha = alpha
        self.learn_alpha = learn_alpha
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.L2SoftmaxHead(
            n_classes, embedding_dim, alpha=self.alpha, learn_alpha=self.learn_alpha
        )


@documented
class CosFaceEmbedder(HypersphereEmbedder):
    """Embeddings trained with CosFace: target logit ``s·(cos θ − m)``.

    Parameters
    ----------
    scale : float, default=30.0
        The scale ``s``.
    margin : float, default=0.35
        The additive cosine margin ``m``.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    ArcFaceEmbedder, SphereFaceREmbedder, NormFaceEmbedder

    References
    ----------
    .. [1] H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition",
       CVPR 2018, arXiv:1801.09414.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import CosFaceEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> CosFaceEmbedder(max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, scale=30.0, margin=0.35, **kwargs):
        self.scale = scale
        self.margin = margin
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.CosFaceHead(n_classes, embedding_dim, scale=self.scale, margin=self.margin)


@documented
class ArcFaceEmbedder(HypersphereEmbedder):
    """Embeddings trained with ArcFace: target logit ``s·cos(θ + m)``.

    Parameters
    ----------
    scale : float, default=30.0
        The scale ``s``.
    margin : float, default=0.5
        The additive angular margin ``m`` in radians.
    beyond_pi : {"fallback", "easy", "clip"}, default="fallback"
        The target logit where ``θ + m > π`` (see :class:`~hypersphere_sklearn.heads.ArcFaceHead`).
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    CosFaceEmbedder, SphereFaceREmbedder

    References
    ----------
    .. [1] J. Deng, J. Guo, N. Xue, S. Zafeiriou, "ArcFace: Additive Angular Margin Loss for
       Deep Face Recognition", CVPR 2019, arXiv:1801.07698.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import ArcFaceEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> ArcFaceEmbedder(max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, scale=30.0, margin=0.5, beyond_pi="fallback", **kwargs):
        self.scale = scale
        self.margin = margin
        self.beyond_pi = beyond_pi
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.ArcFaceHead(
            n_classes, embedding_dim, scale=self.scale, margin=self.margin,
            beyond_pi=self.beyond_pi,
        )


@documented
class SphereFaceEmbedder(HypersphereEmbedder):
    """Embeddings trained with SphereFace (A-Softmax), its λ annealing included.

    Parameters
    ----------
    margin : int, default=4
        The integer multiplicative margin ``m``.
    scale : float or None, default=None
        None uses the feature norm (the original method); a number a fixed scale.
    lambda_base, lambda_gamma, lambda_power, lambda_min : float, default=1000, 0.12, 1, 5
        The annealing ``λ = max(lambda_min, lambda_base·(1 + lambda_gamma·it)^-lambda_power)``
        over training iterations ``it``.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    SphereFaceREmbedder : the revived multiplicative margin.

    References
    ----------
    .. [1] W. Liu et al., "SphereFace: Deep Hypersphere Embedding for Face Recognition",
       CVPR 2017, arXiv:1704.08063.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import SphereFaceEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> SphereFaceEmbedder(max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, margin=4, scale=None, lambda_base=1000.0, lambda_gamma=0.12,
                 lambda_power=1.0, lambda_min=5.0, **kwargs):
        self.margin = margin
        self.scale = scale
        self.lambda_base = lambda_base
        self.lambda_gamma = lambda_gamma
        self.lambda_power = lambda_power
        self.lambda_min = lambda_min
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.SphereFaceHead(
            n_classes, embedding_dim, margin=self.margin, scale=self.scale,
            lambda_base=self.lambda_base, lambda_gamma=self.lambda_gamma,
            lambda_power=self.lambda_power, lambda_min=self.lambda_min,
        )


@documented
class SphereFaceREmbedder(HypersphereEmbedder):
    """Embeddings trained with SphereFace-R (SphereFace Revived).

    Parameters
    ----------
    margin : float, default=1.5
        The multiplicative angular margin ``m`` (>= 1).
    scale : float, default=30.0
        ``s``: the logit scale with ``feature_norm="hard"``, the target norm with ``"soft"``.
    version : {"v1", "v2"}, default="v1"
        v1 puts the margin on the target (``cos(min(mθ, π))``), v2 on the other classes
        (``cos(θ/m)``).
    feature_norm : {"hard", "soft", "none"}, default="hard"
        Feature normalisation; "soft" and "none" ramp the margin up from 1 over
        ``margin_warmup_steps`` iterations.
    gradient_detach : bool, default=True
        Characteristic gradient detachment.
    norm_penalty : float, default=0.01
        Weight of the soft normalisation penalty.
    margin_warmup_steps : int or None, default=None
        None: 0 for "hard", 2000 for "soft" and "none".
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    SphereFaceEmbedder, ArcFaceEmbedder, CosFaceEmbedder

    References
    ----------
    .. [1] W. Liu, Y. Wen, B. Raj, R. Singh, A. Weller, "SphereFace Revived: Unifying
       Hyperspherical Face Recognition", IEEE TPAMI 2022, arXiv:2109.05565.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import SphereFaceREmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> SphereFaceREmbedder(version="v2", max_epochs=2, verbose=0).fit(X, y).transform(X).shape
    (60, 128)
    """

    def __init__(self, margin=1.5, scale=30.0, version="v1", feature_norm="hard",
                 gradient_detach=True, norm_penalty=0.01, margin_warmup_steps=None, **kwargs):
        self.margin = margin
        self.scale = scale
        self.version = version
        self.feature_norm = feature_norm
        self.gradient_detach = gradient_detach
        self.norm_penalty = norm_penalty
        self.margin_warmup_steps = margin_warmup_steps
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        return heads.SphereFaceRHead(
            n_classes, embedding_dim, margin=self.margin, scale=self.scale,
            version=self.version, feature_norm=self.feature_norm,
            gradient_detach=self.gradient_detach, norm_penalty=self.norm_penalty,
            margin_warmup_steps=self.margin_warmup_steps,
        )


#: Primary losses that Ring loss can wrap, and which of scale/margin each takes.
RING_PRIMARIES = {
    "softmax": (heads.SoftmaxHead, ()),
    "normface": (heads.NormFaceHead, ("scale",)),
    "cosface": (heads.CosFaceHead, ("scale", "margin")),
    "arcface": (heads.ArcFaceHead, ("scale", "margin")),
    "sphereface": (heads.SphereFaceHead, ("scale", "margin")),
    "sphereface-r": (heads.SphereFaceRHead, ("scale", "margin")),
}


@documented
class RingLossEmbedder(HypersphereEmbedder):
    """Embeddings trained with a primary loss plus Ring loss, a soft norm constraint.

    Parameters
    ----------
    ring_weight : float, default=0.01
        λ, the weight of ``(λ/2B)·Σ(‖x‖ − R)²``.
    radius : float or None, default=None
        Initial ``R``; None takes the first batch's mean feature norm.
    primary : {"softmax", "normface", "cosface", "arcface", "sphereface", "sphereface-r"}, \
default="softmax"
        The loss Ring loss is added to.
    scale, margin : float or None, default=None
        The primary loss's scale and margin where it has them; None keeps its default.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    L2SoftmaxEmbedder : a hard norm constraint.

    Notes
    -----
    Ring loss constrains norms that the backbone leaves free. The default image backbones
    (``"small-cnn"``, ``"resnet"``) end in a ``BatchNorm1d`` that already holds them in a
    narrow band; ``backbone__embedding_bn=False`` removes it (``docs/benchmarks.md`` has what
    each choice gives on LFW).

    The default optimizer, AdamW, moves a scalar parameter by about its learning rate each
    step whatever the size of its gradient, so ``R`` climbs from its start by roughly the
    sum of the learning rates over training, and can end below the features' norms
    (``python benchmarks/bench_lfw.py norms`` prints both for saved LFW runs). To let it
    follow them faster, give it its own rate: ``optimizer__param_groups=[("radius",
    {"lr": 0.02})]``. On LFW that rate brings ``R`` to the features' median norm and
    narrows their spread, at the same verification accuracy as the default.

    References
    ----------
    .. [1] Y. Zheng, D. K. Pal, M. Savvides, "Ring loss: Convex Feature Normalization for
       Face Recognition", CVPR 2018, arXiv:1803.00130.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import RingLossEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> embedder = RingLossEmbedder(ring_weight=0.01, max_epochs=2, verbose=0).fit(X, y)
    >>> embedder.criterion_.radius.item() > 0
    True
    """

    def __init__(self, ring_weight=0.01, radius=None, primary="softmax", scale=None,
                 margin=None, **kwargs):
        self.ring_weight = ring_weight
        self.radius = radius
        self.primary = primary
        self.scale = scale
        self.margin = margin
        super().__init__(**kwargs)

    def build_head(self, n_classes, embedding_dim):
        check_choice("primary", self.primary, tuple(RING_PRIMARIES))
        head_class, takes = RING_PRIMARIES[self.primary]
        given = {name: getattr(self, name) for name in ("scale", "margin")}
        for name, value in given.items():
            if value is not None and name not in takes:
                raise ValueError(f"{name} is not a parameter of primary={self.primary!r}.")
        options = {name: value for name, value in given.items() if value is not None}
        primary = head_class(n_classes, embedding_dim, **options)
        return heads.RingLossHead(primary, ring_weight=self.ring_weight, radius=self.radius)
