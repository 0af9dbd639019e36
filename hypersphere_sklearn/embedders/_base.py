"""The base embedder: skorch's ``NeuralNet`` as a scikit-learn transformer.

A subclass per method only states its loss hyperparameters and ``build_head``. Everything
else — input checks, the backbone, seeding, the training step, batched ``transform`` — lives
here, in small hooks in the spirit of skorch's ``NeuralNet``.
"""

import contextlib
import inspect
import numbers
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.history import History
from skorch.utils import TeeGenerator, to_tensor
from torch import nn

from .._input import InputSpec, check_X, check_y
from ..backbones import InputScaler, build_backbone, infer_embedding_dim
from ..datasets._folders import ImageLoader, is_path_list
from ..heads._base import unit_vectors
from ..heads._validation import check_choice, check_int, check_real
from ..persistence import SavableMixin, decode, encode, encode_params, read_model_file
from ..verification import Embeddings
from ._augment import random_flip, random_shift
from ._training import (
    CHECKPOINT_NAME,
    CosineSchedule,
    EpochCheckpoint,
    InterruptRequest,
    TrainingDivergedError,
    WeightSnapshots,
    capture_rng,
    divergence_message,
    gradient_norm,
    restore_rng,
    unwrapped,
)

#: Settings a run may be resumed with although its checkpoint was written with others.
RESUMABLE_WITH_OTHER = ("max_epochs", "verbose", "progress_bar", "callbacks", "warm_start",
                        "checkpoint_dir", "device", "iterator_train", "iterator_valid",
                        "compile")
#: Above this, a weight decay is one for AdamW's decoupled decay, not an L2 penalty.
COUPLED_DECAY_LIMIT = 0.01
#: The x86 instruction sets (keys of ``torch.cpu.get_capabilities()``) that compute each
#: ``mixed_precision`` dtype natively; without one, oneDNN emulates the dtype.
NATIVE_PRECISION = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}
#: The autocast dtype of each ``mixed_precision`` (None: float32, no autocast).
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
X86 = ("x86_64", "x86", "amd64", "i386", "i686")


def cpu_emulates(precision):
    """Whether this CPU is known to lack instructions for ``precision`` ("bf16", "fp16").

    Only x86 CPUs are judged, from ``torch.cpu.get_capabilities()``; an ARM CPU, a torch
    without that function, or another ``precision`` answer ``False`` (not known to lack).
    """
    units = NATIVE_PRECISION.get(precision)
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if units is None or get_capabilities is None:
        return False
    capabilities = get_capabilities()
    if str(capabilities.get("architecture", "")).lower() not in X86:
        return False
    return not any(capabilities.get(unit, False) for unit in units)


def resolve_device(device):
    """``"auto"`` becomes ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class AutoDevice:
    """The ``device`` parameter: stores what the user gave, reads as a concrete device.

    skorch moves modules and batches to ``self.device``; this lets that be ``"auto"`` while
    ``get_params`` (and so ``clone``) still sees ``"auto"``.
    """

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return resolve_device(obj.__dict__.get("device", "auto"))

    def __set__(self, obj, value):
        obj.__dict__["device"] = value


def no_prediction(estimator):
    raise AttributeError(
        f"{type(estimator).__name__} is an embedder: it has transform, not predict or "
        "predict_proba. Put a verifier after it (Pipeline([('embed', ...), ('verify', "
        "CosineVerifier())])) to predict identities."
    )


def named_parameters(init):
    return [
        p for p in inspect.signature(init).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]


def merged_signature(cls):
    """The subclass's own keyword arguments followed by every base-class argument.

    The ``**kwargs`` that carries skorch's prefixed arguments (``backbone__*``,
    ``optimizer__*``, ...) is left out, as scikit-learn expects of a signature.
    """
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in named_parameters(cls.__dict__["__init__"])[1:]]
    base = named_parameters(HypersphereEmbedder.__dict__["__init__"])
    return inspect.Signature(base[:1] + own + base[1:])


class HypersphereEmbedder(SavableMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          NeuralNet):
    """Base class of the embedders; use a subclass such as :class:`NormFaceEmbedder`.

    Parameters common to every embedder are documented on :class:`NormFaceEmbedder`.
    """

    # skorch reads these; they are fixed here rather than parameters.
    prefixes_ = NeuralNet.prefixes_ + ["backbone"]
    use_caching = "auto"
    predict_nonlinearity = None
    dataset = None
    torch_load_kwargs = None
    # Class-level defaults of skorch's state, so that __init__ sets nothing but parameters.
    initialized_ = False
    history_ = None
    virtual_params_ = MappingProxyType({})

    device = AutoDevice()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__.__signature__ = merged_signature(cls)

    def __init__(
        self,
        *,
        backbone="auto",
        embedding_dim=None,
        max_epochs=24,
        batch_size=64,
        lr=2e-3,
        optimizer=torch.optim.AdamW,
        weight_decay=0.5,
        lr_schedule="cosine",
        max_grad_norm=None,
        random_flip=True,
        random_shift=0.05,
        flip_fusion=False,
        calibration_holdout=0.2,
        image_loader=None,
        mixed_precision=None,
        device="auto",
        random_state=None,
        verbose=1,
        progress_bar=False,
        callbacks=None,
        train_split=None,
        iterator_train=torch.utils.data.DataLoader,
        iterator_valid=torch.utils.data.DataLoader,
        warm_start=False,
        checkpoint_dir=None,
        compile=False,
        **kwargs,
    ):
        self.backbone = backbone
        self.embedding_dim = embedding_dim
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.max_grad_norm = max_grad_norm
        self.random_flip = random_flip
        self.random_shift = random_shift
        self.flip_fusion = flip_fusion
        self.calibration_holdout = calibration_holdout
        self.image_loader = image_loader
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.progress_bar = progress_bar
        self.callbacks = callbacks
        self.train_split = train_split
        self.iterator_train = iterator_train
        self.iterator_valid = iterator_valid
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.compile = compile
        # skorch-style prefixed arguments (backbone__*, optimizer__*, iterator_train__*, ...)
        self._params_to_validate = set(kwargs)
        vars(self).update(kwargs)

    # -- the hook each method fills in ---------------------------------------------------------
    def build_head(self, n_classes, embedding_dim):
        """The loss head (a ``hypersphere_sklearn.heads`` module) for this method."""
        raise NotImplementedError

    # -- scikit-learn plumbing -------------------------------------------------------------------
    def _get_param_names(self):
        names = BaseEstimator._get_param_names.__func__(type(self))
        prefixed = [k for k in self.__dict__ if "__" in k and not k.startswith("_")]
        return sorted(set(names) | set(prefixed))

    def set_params(self, **params):
        # Settings read when they are used only need storing: the backbone's and the data
        # loaders' always (on a fitted net skorch would try to re-initialise a component of
        # that name, and there is none), callbacks until the net is initialised (skorch would
        # build them at once, failing on values that fit would reject with a clear error).
        def deferred(key):
            prefix = key.split("__")[0]
            return prefix in ("backbone", "iterator_train", "iterator_valid") or (
                not self.initialized_ and prefix == "callbacks"
            )

        for key in [k for k in params if deferred(k)]:
            setattr(self, key, params.pop(key))
            if "__" in key:
                self._params_to_validate.add(key)
        return super().set_params(**params)

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")  # not the resolved one
        return params

    def __repr__(self, N_CHAR_MAX=700):
        return BaseEstimator.__repr__(self, N_CHAR_MAX=N_CHAR_MAX)

    def __sklearn_tags__(self):
        return embedder_tags(super().__sklearn_tags__())

    def __sklearn_is_fitted__(self):
        return hasattr(self, "module_") and hasattr(self, "classes_")

    def __setstate__(self, state):
        requested = state["device"]
        super().__setstate__({**state, "device": resolve_device(requested)})
        self.__dict__["device"] = requested

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    # skorch's predict/predict_proba would return raw embeddings as if they were predictions;
    # as properties raising AttributeError they are absent (hasattr is False) and say why.
    predict = property(no_prediction)
    predict_proba = property(no_prediction)

    # -- checks --------------------------------------------------------------------------------
    def check_hyperparameters(self):
        """Raise ``ValueError`` naming any common hyperparameter that is out of range."""
        check_int("max_epochs", self.max_epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_real("lr", self.lr, minimum=0.0, strict=True)
        check_real("weight_decay", self.weight_decay, minimum=0.0)
        check_choice("lr_schedule", self.lr_schedule, ("cosine", None))
        check_choice("mixed_precision", self.mixed_precision, (None, "bf16", "fp16"))
        if self.max_grad_norm is not None:
            check_real("max_grad_norm", self.max_grad_norm, minimum=0.0, strict=True)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir,
                                                              (str, os.PathLike)):
            raise TypeError(f"checkpoint_dir must be a directory path or None; got "
                            f"{type(self.checkpoint_dir).__name__}.")
        if self.embedding_dim is not None:
            check_int("embedding_dim", self.embedding_dim, 1)
        check_real("random_shift", self.random_shift, minimum=0.0, maximum=0.5)
        holdout = self.calibration_holdout
        if isinstance(holdout, numbers.Integral) and not isinstance(holdout, bool):
            check_int("calibration_holdout", holdout, 0)
        else:
            check_real("calibration_holdout", holdout, minimum=0.0, maximum=0.9)

    def choose_holdout(self, classes):
        """Identities kept out of training for the verifier's calibration (maybe none).

        A share (float) or a count (int) of the identities, drawn with ``random_state``; none
        unless at least 2 are held out and at least 2 remain to train on.
        """
        share = self.calibration_holdout
        count = share if isinstance(share, numbers.Integral) else round(share * len(classes))
        if count < 2 or len(classes) - count < 2:
            return classes[:0]
        chosen = check_random_state(self.seed()).choice(len(classes), int(count), replace=False)
        return classes[np.sort(chosen)]

    def loader(self):
        """The :class:`~hypersphere_sklearn.datasets.ImageLoader` for file-path inputs."""
        return self.image_loader if self.image_loader is not None else ImageLoader()

    def check_input(self, X, fitting):
        """``(X, spec)``: validated arrays, or file paths with the shape of their images."""
        if not is_path_list(X):
            return check_X(self, X, fitting=fitting)
        if not fitting and self.input_spec_.kind != "paths":
            raise ValueError(f"X holds file paths but the embedder was fitted on "
                             f"{self.input_spec_.describe()}; pass arrays of that shape.")
        paths = np.array([os.fspath(p) for p in X], dtype=object)
        first = self.loader()(paths[0])
        layout = "NHW" if first.ndim == 2 else "NHWC"
        shape = (1, *first.shape) if first.ndim == 2 else (first.shape[2], *first.shape[:2])
        spec = InputSpec("paths", tuple(int(v) for v in shape), layout, 255.0)
        if not fitting and spec.shape != self.input_spec_.shape:
            raise ValueError(f"the images decode to {spec.describe()} but the embedder was "
                             f"fitted on {self.input_spec_.describe()}.")
        return paths, spec

    def checked_fit_data(self, X, y, fitting=True):
        """``(X, spec, classes, encoded)``: validated inputs, file paths that do not decode left
        out (``on_error="skip"``) with their labels, and the identities of what is left."""
        X, spec = self.check_input(X, fitting=fitting)
        classes, encoded = check_y(self, y, len(X))
        if spec.kind == "paths":
            readable = self.loader().readable(X)
            X, encoded = X[readable], encoded[readable]
            classes, encoded = check_y(self, classes[encoded], len(X))
        return X, spec, classes, encoded

    def prepare_fit_data(self, X, y, reset):
        """Validate ``X`` and ``y`` and, when ``reset``, record what the model is fitted on."""
        X, spec, classes, encoded = self.checked_fit_data(X, y, fitting=reset)
        if reset:
            self.classes_, self.n_classes_ = classes, len(classes)
            self.holdout_classes_ = self.choose_holdout(classes)
            self.training_classes_ = np.setdiff1d(classes, self.holdout_classes_)
            self.input_spec_ = spec
            if spec.kind == "features":  # in float64: float32 sums of large values overflow
                self.feature_mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
                std = X.std(axis=0, dtype=np.float64)
                self.feature_scale_ = np.clip(1.0 / np.maximum(std, 1e-6), 1e-30, None).astype(
                    np.float32)
        else:
            unseen = np.setdiff1d(classes, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y has labels {unseen[:5].tolist()} the embedder was not fitted on; "
                    "partial_fit continues training on the same identities."
                )
        labels = classes[encoded]
        if len(self.holdout_classes_):
            train = np.isin(labels, self.training_classes_)
            X, labels = X[train], labels[train]
        return X, np.searchsorted(self.training_classes_, labels)

    # -- components ----------------------------------------------------------------------------
    def input_scaler(self):
        spec = self.input_spec_
        if spec.kind == "features":
            return InputScaler(self.feature_mean_, self.feature_scale_)
        return InputScaler(spec.pixel_max / 2.0, 2.0 / spec.pixel_max)

    def initialize_module(self):
        spec = self.input_spec_
        backbone = build_backbone(
            self.backbone, spec.shape, self.embedding_dim, **self.get_params_for("backbone")
        )
        dim = infer_embedding_dim(backbone, spec.shape)
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ValueError(
                f"the backbone outputs {dim} features but embedding_dim={self.embedding_dim}; "
                "set embedding_dim=None to use the backbone's width."
            )
        self.embedding_dim_ = dim
        self.module_ = nn.Sequential(self.input_scaler(), backbone)
        return self

    def torch_compile(self, module, name):
        """``torch.compile`` the backbone only: the head is small and checks its inputs eagerly."""
        return module if name == "criterion" else super().torch_compile(module, name)

    def initialize_criterion(self):
        self.criterion_ = self.build_head(len(self.training_classes_), self.embedding_dim_)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """The optimizer, with weight decay on weight matrices and kernels only.

        Biases, normalisation parameters and learnable scalars (scale, α, radius) are left
        without decay: shrinking them changes what the loss means, not the model's capacity.
        skorch's ``optimizer__param_groups`` (``[(pattern, options), ...]``, the patterns
        matched against parameter names such as ``"radius"`` or ``"primary.weight"``) gives
        the matching parameters their own options, a learning rate say; each group is then
        split the same way.
        """
        named = list(self.get_all_learnable_params())
        (groups,), kwargs = self.get_params_for_optimizer("optimizer", named)
        kwargs.setdefault("weight_decay", self.weight_decay)
        self.check_coupled_decay(kwargs)
        split = []
        for group in groups:
            options = {k: v for k, v in group.items() if k != "params"}
            decay = [p for p in group["params"] if p.ndim >= 2]
            no_decay = [p for p in group["params"] if p.ndim < 2]
            split += [{**options, "params": decay}] if decay else []
            split += [{**options, "params": no_decay, "weight_decay": 0.0}] if no_decay else []
        self.optimizer_ = self.optimizer(split, **kwargs)
        return self

    def check_coupled_decay(self, kwargs):
        """Warn when a decay sized for AdamW's decoupled decay goes to another optimizer
        (``kwargs``: the optimizer's keyword arguments).

        AdamW shrinks each weight by ``lr * weight_decay`` a step (0.1 % with the defaults);
        SGD, Adam and most others add ``weight_decay * w`` to the gradient instead, where 0.5
        swamps the loss and drives the weights to zero.
        """
        decoupled = (isinstance(self.optimizer, type)
                     and issubclass(self.optimizer, torch.optim.AdamW)
                     or kwargs.get("decoupled_weight_decay", False))
        weight_decay = kwargs["weight_decay"]
        if weight_decay > COUPLED_DECAY_LIMIT and not decoupled:
            name = getattr(self.optimizer, "__name__", type(self.optimizer).__name__)
            warnings.warn(
                f"weight_decay={weight_decay} is sized for AdamW's decoupled decay (the "
                f"default optimizer); {name} adds it to the gradient as an L2 penalty, where "
                f"it drives the weights to zero. Pass weight_decay=5e-4 (or a value tuned for "
                f"{name}) with optimizer={name}.", UserWarning, stacklevel=3)

    @property
    def _default_callbacks(self):
        # get_params(deep=True) lists these even before fit, when the parameters have not been
        # validated yet: compare them without assuming their types.
        callbacks = list(super()._default_callbacks)
        if isinstance(self.progress_bar, (bool, int)) and self.progress_bar:
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks + self.training_callbacks()

    def training_callbacks(self):
        """The callbacks that are part of the training recipe (kept by callbacks="disable")."""
        callbacks = []
        if isinstance(self.lr_schedule, str) and self.lr_schedule == "cosine":
            callbacks.append(("lr_scheduler", CosineSchedule()))
        if isinstance(self.checkpoint_dir, (str, os.PathLike)):
            callbacks.append(("checkpoint", EpochCheckpoint(self.checkpoint_dir)))
        return callbacks

    # -- data ----------------------------------------------------------------------------------
    def get_dataset(self, X, y=None, spec=None):
        spec = spec or self.input_spec_
        if spec.kind == "paths":
            return PathDataset(X, y, self.loader(), spec)
        return ArrayDataset(X, y, spec)

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        shuffle = kwargs.pop("shuffle", training)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        sampler = BatchIndices(len(dataset), batch_size, shuffle=shuffle, merge_singleton=training)
        loader = self.iterator_train if training else self.iterator_valid
        if not training:  # its own generator: embedding must not draw from the caller's RNG
            kwargs.setdefault("generator", torch.Generator())
        if isinstance(getattr(dataset, "dataset", dataset), PathDataset):
            # one file per item, so that workers decode in parallel
            return loader(dataset, batch_sampler=sampler, **kwargs)
        return loader(dataset, batch_size=None, sampler=sampler, **kwargs)

    # -- training ------------------------------------------------------------------------------
    def seed(self):
        """The torch seed of a fit, from ``random_state`` (fresh each fit when it is None)."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    @contextlib.contextmanager
    def forked_rng(self):
        """torch's random state as it was before, once the block ends."""
        devices = [torch.device(self.device)] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            yield

    @contextlib.contextmanager
    def seeded(self, continuing=False):
        """Seed torch's (forked) RNG: from ``random_state`` for a new run; for a run that
        continues, from the state at the end of its last epoch, as if it had not stopped."""
        with self.forked_rng():
            state = getattr(self, "rng_state_", None) if continuing else None
            if state is not None:
                restore_rng(state, self.device)
            else:
                torch.manual_seed(self.seed() + (len(self.history) if continuing else 0))
            yield

    def fit(self, X, y, **fit_params):
        """Train the backbone and the head on images (or 2-D data) with identity labels.

        With ``warm_start=True`` an embedder that has been trained (or whose
        ``checkpoint_dir`` holds a checkpoint) continues until ``max_epochs`` epochs in all,
        optimizer and schedule included, like scikit-learn's gradient boosting continues to
        ``n_estimators``; raise ``max_epochs`` to train longer.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, H, W, C), (n, C, H, W) or (n, n_features)
            Images (uint8 0-255 or float) or 2-D data, or a list of image file paths.
        y : array-like of shape (n,)
            Identity labels of any type (strings too).
        **fit_params
            Passed to skorch's training loop.

        Returns
        -------
        self

        Raises
        ------
        TrainingDivergedError
            The loss or the gradients stopped being finite; the message says where, why and
            what to change. The embedder keeps its last good weights.
        """
        self.check_hyperparameters()
        self.check_mixed_precision()
        checkpoint = self.checkpoint_file()
        continuing = self.warm_start and (self.initialized_ or checkpoint is not None)
        if continuing and not self.initialized_:
            self.resume_from(checkpoint)
        elif not continuing and checkpoint is not None and self.verbose:
            print(f"Starting afresh: {checkpoint} will be overwritten (warm_start=True "
                  "resumes it).")
        X, encoded = self.prepare_fit_data(X, y, reset=not continuing)
        epochs = self.max_epochs - len(self.history) if continuing else self.max_epochs
        if epochs <= 0:
            if self.verbose:
                print(f"Already trained {len(self.history)} epochs (max_epochs="
                      f"{self.max_epochs}); raise max_epochs to train more.")
            return self
        with self.seeded(continuing):
            if not continuing:
                self.initialize()
            self.run_training(X, encoded, epochs, **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train ``max_epochs`` more epochs, continuing from the current state (or from the
        checkpoint in ``checkpoint_dir``; initialising on the very first call)."""
        self.check_hyperparameters()
        self.check_mixed_precision()
        checkpoint = self.checkpoint_file()
        if not self.initialized_ and checkpoint is not None:
            self.resume_from(checkpoint)
        first = not self.initialized_
        X, encoded = self.prepare_fit_data(X, y, reset=first)
        with self.seeded(continuing=not first):
            if first:
                self.initialize()
            self.run_training(X, encoded, self.max_epochs, **fit_params)
        return self

    def run_training(self, X, y, epochs, **fit_params):
        """skorch's training loop for ``epochs`` epochs, made safe to stop.

        Ctrl-C (or a ``KeyboardInterrupt`` from a callback) ends training after the current
        step and leaves a fitted embedder; a loss or gradient that is not finite stops it with
        a :class:`TrainingDivergedError`, keeping the last good weights. An epoch left
        unfinished is removed from the history, so ``warm_start`` counts completed epochs.
        """
        self.notify("on_train_begin", X=X, y=y)
        self._weight_snapshots = WeightSnapshots()
        try:
            with InterruptRequest() as self._interrupt_request:
                self.fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            self.drop_unfinished_epoch()
            self.check_weights("the step before the interrupt")
            if self.verbose:
                print(f"Training interrupted after {len(self.history)} complete epoch(s); "
                      "the embedder keeps the weights of its last completed step.")
        except TrainingDivergedError:
            self.drop_unfinished_epoch()
            raise
        finally:
            vars(self).pop("_weight_snapshots", None)
            vars(self).pop("_interrupt_request", None)
            self.notify("on_train_end", X=X, y=y)

    def drop_unfinished_epoch(self):
        if len(self.history) and "train_batch_count" not in self.history[-1]:
            del self.history[-1]

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        if hasattr(self, "_weight_snapshots"):
            self._weight_snapshots.take(self)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        # Ctrl-C stops here, once the callbacks have seen the end of the batch before
        request = getattr(self, "_interrupt_request", None)
        if request is not None and request.requested:
            raise KeyboardInterrupt
        super().on_batch_begin(net, batch=batch, training=training, **kwargs)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training and hasattr(self, "_weight_snapshots"):
            self._weight_snapshots.confirm()

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        # before the callbacks (checkpoints) see them: the epoch's last step is unchecked
        self.check_weights("the epoch's last step", epoch_done=True)
        self.rng_state_ = capture_rng(self.device)

    def augment(self, X):
        """Random flips and shifts of the images of a training batch (2-D data: none)."""
        if X.ndim != 4:
            return X
        if self.random_flip:
            X = random_flip(X)
        if self.random_shift > 0:
            X = random_shift(X, self.random_shift)
        return X

    def autocast(self):
        """Mixed-precision context for the backbone; the heads compute in float32 anyway."""
        if self.mixed_precision is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.device).type,
                              dtype=AUTOCAST_DTYPES[self.mixed_precision])

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        with self.autocast():
            return self.module_(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        Xi = self.augment(to_tensor(Xi, device=self.device))
        embeddings = self.infer(Xi, **fit_params)
        loss = self.get_loss(embeddings, yi, X=Xi, training=True)
        scaler = getattr(self, "grad_scaler_", None)
        (loss if scaler is None else scaler.scale(loss)).backward()
        return {"loss": loss, "y_pred": embeddings}

    def initialize(self):
        super().initialize()
        if isinstance(self.callbacks, str) and self.callbacks == "disable":
            # skorch leaves out every callback; those of the training recipe stay
            self.callbacks_ = [(name, cb.initialize()) for name, cb in self.training_callbacks()]
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        if self.mixed_precision == "fp16":
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        elif hasattr(self, "grad_scaler_"):
            del self.grad_scaler_
        return self

    def check_mixed_precision(self):
        """Warn when ``mixed_precision`` asks the CPU for a dtype it has no instructions for:
        autocast then emulates it, and a training step of the default CNN took about 10
        (bf16) and 13 (fp16) times as long as in float32 on such a CPU
        (``docs/benchmarks.md``). Called by ``fit`` and ``partial_fit``, not on loading."""
        precision = self.mixed_precision
        if (precision is None or torch.device(self.device).type != "cpu"
                or not cpu_emulates(precision)):
            return
        units = " or ".join(unit.upper().replace("_", "-") for unit in NATIVE_PRECISION[precision])
        warnings.warn(
            f"mixed_precision={precision!r} on a CPU without {units} instructions: torch "
            f"emulates {precision} there, which trains several times slower than float32 "
            "(docs/benchmarks.md; the project's benchmarks/bench_embedders.py measures it). Pass "
            "mixed_precision=None here, and keep the setting for a GPU or a CPU with "
            f"{units}.", UserWarning, stacklevel=3)

    def train_step(self, batch, **fit_params):
        """One optimizer step; the gradients are clipped and checked before it is taken."""
        scaler = getattr(self, "grad_scaler_", None)
        steps = []

        def closure():
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            steps.append(step)
            if scaler is not None:
                scaler.unscale_(self.optimizer_)  # callbacks and clipping see true values
            self.notify("on_grad_computed", named_parameters=TeeGenerator(
                self.get_all_learnable_params()), batch=batch, training=True)
            self.check_step(step)
            return step["loss"]

        try:
            if scaler is None:
                self.optimizer_.step(closure)
            else:  # GradScaler cannot step an optimizer through a closure: the same, unrolled
                closure()
                scaler.step(self.optimizer_)
                scaler.update()
        except RuntimeError as error:
            # torch's optimizers refuse a step size beyond float32 (e.g. Adam's lr / (1 − β₁)),
            # after weight decay has already changed the weights: they are not kept
            if not steps or "without overflow" not in str(error):
                raise
            self.diverged(None, float(steps[0]["loss"].detach()), float("nan"),
                          what=f"the optimizer's step overflowed float32 ({error})")
        return steps[0]

    def check_step(self, step):
        """Clip the gradients (``max_grad_norm``); stop when loss or gradients are not finite.

        Runs before the optimizer's step, so a bad step is never taken. With float16 loss
        scaling infinite gradients are expected now and then (the scaler skips those steps),
        so only the loss is checked.
        """
        params = [p for _, p in self.get_all_learnable_params()]
        norm = gradient_norm(params, self.max_grad_norm)
        loss = step["loss"].detach().float()
        checked = loss if hasattr(self, "grad_scaler_") else loss + norm.to(loss.device)
        if not torch.isfinite(checked):
            self.diverged(step, float(loss), float(norm))

    def weights_are_finite(self):
        return all(bool(torch.isfinite(p.detach()).all())
                   for _, p in self.get_all_learnable_params())

    def check_weights(self, after, epoch_done=False):
        """Each step is checked before the next one; the last step of a run (of an epoch, or
        before an interrupt) is checked here: weights that are not finite stop training."""
        if hasattr(self, "_weight_snapshots") and not self.weights_are_finite():
            kept, restored = self.keep_good_weights(None)
            if restored and epoch_done:  # the snapshot is from this epoch's start
                del self.history[-1]
            raise TrainingDivergedError(divergence_message(
                self, float("nan"), float("nan"), kept,
                what=f"{after} left weights that are not finite"))

    def diverged(self, step, loss, norm, what=None):
        """Keep the last good weights and raise a :class:`TrainingDivergedError`.

        ``step`` is the failed step's output, or None when the weights may have changed since
        the last good step.
        """
        kept, _ = self.keep_good_weights(step)
        raise TrainingDivergedError(divergence_message(self, loss, norm, kept, what))

    def keep_good_weights(self, step):
        """After a failed step: fall back to a snapshot unless the current weights are usable,
        and start a fresh loss scaler. Says what is kept, and whether a snapshot was restored."""
        if hasattr(self, "grad_scaler_"):  # a fresh scaler: the failed step never update()d it
            self.grad_scaler_ = torch.amp.GradScaler(
                torch.device(self.device).type, init_scale=self.grad_scaler_.get_scale())
        usable = (step is not None and bool(torch.isfinite(step["y_pred"].detach()).all())
                  and self.weights_are_finite())
        if usable:
            return "the weights of its last completed step", False
        snapshots = getattr(self, "_weight_snapshots", None)
        if snapshots is not None and snapshots.restore(self):
            return "the last weights known to be good (from the start of an epoch)", True
        return "its current weights, which may not be finite", False

    # -- checkpoints and safe persistence -------------------------------------------------------
    def checkpoint_file(self):
        """The checkpoint in ``checkpoint_dir``, or None when there is none."""
        if not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            return None
        path = Path(self.checkpoint_dir) / CHECKPOINT_NAME
        return path if path.is_file() else None

    def resume_from(self, path):
        """Take the whole training state of the checkpoint at ``path`` into this embedder."""
        document, tensors = read_model_file(path)
        if document.get("class") != type(self).__name__ or "fitted" not in document:
            raise ValueError(
                f"{path} is not a checkpoint of a fitted {type(self).__name__}; use another "
                "checkpoint_dir, or delete the file to start afresh."
            )
        ours = encode_params(self.get_params(deep=False))
        changed = sorted(
            name for name in set(ours) | set(document["params"])
            if name.split("__")[0] not in RESUMABLE_WITH_OTHER
            and ours.get(name) != document["params"].get(name)
        )
        if changed:
            warnings.warn(
                f"resuming {path} with settings other than those it was written with "
                f"({', '.join(changed)}): the result will differ from an uninterrupted run.",
                UserWarning, stacklevel=3,
            )
        self.import_state(document["fitted"], tensors, path)
        if self.verbose:
            print(f"Resuming from {path} after epoch {len(self.history)}.")

    def export_state(self, training_state=False):
        """``(attributes, tensors)`` of the fitted embedder, for the safe file format."""
        attributes = {
            name: encode(getattr(self, name))
            for name in ("classes_", "n_classes_", "holdout_classes_", "training_classes_",
                         "embedding_dim_", "n_features_in_", "feature_names_in_")
            if hasattr(self, name)
        }
        attributes["input_spec_"] = encode(asdict(self.input_spec_))
        attributes["history"] = [
            {key: value for key, value in row.items() if is_json_value(value)}
            for row in self.history
        ]
        tensors = {f"{part}.{key}": value
                   for part in ("module", "criterion")
                   for key, value in unwrapped(getattr(self, part + "_")).state_dict().items()}
        if self.input_spec_.kind == "features":
            tensors["feature_mean"] = torch.from_numpy(np.asarray(self.feature_mean_))
            tensors["feature_scale"] = torch.from_numpy(np.asarray(self.feature_scale_))
        if training_state:
            optimizer = self.optimizer_.state_dict()
            attributes["optimizer"] = {
                "param_groups": encode(optimizer["param_groups"]),
                "state": {str(index): {k: encode(v) for k, v in values.items()
                                       if not torch.is_tensor(v)}
                          for index, values in optimizer["state"].items()},
            }
            for index, values in optimizer["state"].items():
                tensors.update({f"optimizer.{index}.{k}": v for k, v in values.items()
                                if torch.is_tensor(v)})
            for device, state in getattr(self, "rng_state_", {}).items():
                tensors[f"rng.{device}"] = state
            if hasattr(self, "grad_scaler_"):
                attributes["grad_scaler"] = encode(self.grad_scaler_.state_dict())
        return attributes, tensors

    def import_state(self, attributes, tensors, path="the model file"):
        """Rebuild the fitted embedder from what :meth:`export_state` gave."""
        for name in ("classes_", "n_classes_", "holdout_classes_", "training_classes_",
                     "embedding_dim_", "n_features_in_", "feature_names_in_"):
            if name in attributes:
                setattr(self, name, decode(attributes[name]))
        self.input_spec_ = InputSpec(**decode(attributes["input_spec_"]))
        if self.input_spec_.kind == "features":
            self.feature_mean_ = tensors["feature_mean"].numpy()
            self.feature_scale_ = tensors["feature_scale"].numpy()
        with self.forked_rng():  # the random initialisation is overwritten at once
            self.initialize()
        try:
            for part in ("module", "criterion"):
                state = {k[len(part) + 1:]: v for k, v in tensors.items()
                         if k.startswith(part + ".")}
                unwrapped(getattr(self, part + "_")).load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                f"the weights in {path} do not fit the network built from its settings "
                f"({str(error).splitlines()[0]} ...); if it was saved with a custom backbone, "
                "pass that same backbone to load()."
            ) from None
        self.history_ = History(attributes["history"])
        if "optimizer" in attributes:
            self.optimizer_.load_state_dict(optimizer_state(attributes["optimizer"], tensors))
        rng = {key[4:]: value for key, value in tensors.items() if key.startswith("rng.")}
        if rng:
            self.rng_state_ = rng
        if "grad_scaler" in attributes and hasattr(self, "grad_scaler_"):
            self.grad_scaler_.load_state_dict(decode(attributes["grad_scaler"]))
        return self

    # -- embedding -----------------------------------------------------------------------------
    def embed_batch(self, batch):
        """Raw features of one batch (with the mirror images' added when ``flip_fusion``)."""
        features = self.infer(batch).float()
        if self.flip_fusion and batch.ndim == 4:
            features = features + self.infer(batch.flip(-1)).float()
        return features

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then embed X. Inside a pipeline the result also marks the rows of the
        identities held out of training, so that a following CosineVerifier calibrates on them.
        """
        embeddings = self.fit(X, y, **fit_params).transform(X)
        if not len(self.holdout_classes_):
            return embeddings
        return Embeddings(embeddings, np.isin(column_or_1d(y), self.holdout_classes_))

    def transform(self, X):
        """Unit-norm float32 embeddings, computed in batches in eval mode without gradients.

        Parameters
        ----------
        X : array-like
            Images or 2-D data shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples, embedding_dim)
        """
        check_is_fitted(self)
        X, spec = self.check_input(X, fitting=False)
        out = np.empty((len(X), self.embedding_dim_), dtype=np.float32)
        self._set_training(False)
        start = 0
        with torch.no_grad():
            for batch, _ in self.get_iterator(self.get_dataset(X, spec=spec), training=False):
                unit = unit_features(self.embed_batch(batch.to(self.device)))
                if not torch.isfinite(unit).all():
                    raise ValueError(
                        f"this {type(self).__name__} gives NaN features for finite input: "
                        f"its weights have diverged (lr={self.lr:g}). Fit it again with a "
                        "lower learning rate, or with max_grad_norm set."
                    )
                out[start:start + len(batch)] = unit.cpu().numpy()
                start += len(batch)
        return out


def embedder_tags(tags):
    """scikit-learn's tags of an embedder: it needs identity labels, and embeds in float32."""
    tags.target_tags.required = True
    tags.transformer_tags.preserves_dtype = ["float32"]
    return tags


def unit_features(features):
    """Float32 rows scaled to unit length without overflow (rows of norm below 1e-12 are
    divided by 1e-12, as ``F.normalize`` does). A row whose features overflowed to ±inf points
    along its infinite entries, the limit of its direction; a row with NaN stays NaN."""
    infinite = torch.isinf(features)
    overflowed = infinite.any(dim=1, keepdim=True) & ~features.isnan().any(dim=1, keepdim=True)
    if overflowed.any():
        limit = torch.where(infinite, torch.sign(features), torch.zeros_like(features))
        features = torch.where(overflowed, limit, features)
    return unit_vectors(features, eps=1e-12)[0]  # F.normalize's eps


def is_json_value(value):
    """Whether a history entry is plain JSON data (user callbacks may record anything)."""
    if isinstance(value, (list, tuple)):
        return all(is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def optimizer_state(saved, tensors):
    """The optimizer's ``state_dict`` from its JSON part and its tensors."""
    state = {}
    for index, values in saved["state"].items():
        state[int(index)] = {k: decode(v) for k, v in values.items()}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": decode(saved["param_groups"])}


HypersphereEmbedder.__init__.__signature__ = inspect.Signature(
    named_parameters(HypersphereEmbedder.__init__)
)


class ArrayDataset(torch.utils.data.Dataset):
    """Samples of an in-memory array, fetched a whole batch at a time (``dataset[indices]``)."""

    def __init__(self, X, y, spec: InputSpec):
        self.X, self.y, self.spec = X, y, spec

    def __len__(self):
        return len(self.X)

    def __getitem__(self, indices):
        batch = np.array(self.spec.to_model_layout(self.X[indices]))
        if batch.dtype in (np.uint16, np.uint32, np.uint64):  # torch cannot flip these
            batch = batch.astype(np.float32)
        batch = torch.from_numpy(batch)
        labels = None if self.y is None else torch.as_tensor(self.y[indices])
        return batch, labels


class PathDataset(torch.utils.data.Dataset):
    """Image files decoded one at a time (in DataLoader workers when there are some)."""

    def __init__(self, paths, y, loader, spec: InputSpec):
        self.paths, self.y, self.loader, self.spec = paths, y, loader, spec

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        image = self.loader(self.paths[index])
        image = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)
        if image.shape != self.spec.shape:
            raise ValueError(
                f"image {self.paths[index]} decodes to shape {image.shape}, not "
                f"{self.spec.shape} like the others: give image_loader a size=(height, width)."
            )
        label = -1 if self.y is None else int(self.y[index])
        return torch.from_numpy(np.array(image)), label  # a writable copy


class BatchIndices(torch.utils.data.Sampler):
    """Index arrays of one batch each, reshuffled every epoch when ``shuffle``.

    With ``merge_singleton`` a last batch of a single sample joins the one before it: batch
    normalisation cannot train on one sample.
    """

    def __init__(self, n, batch_size, shuffle, merge_singleton):
        self.n, self.batch_size = n, batch_size
        self.shuffle, self.merge_singleton = shuffle, merge_singleton

    def __iter__(self):
        order = torch.randperm(self.n).numpy() if self.shuffle else np.arange(self.n)
        batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if self.merge_singleton and len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [np.concatenate(batches[-2:])]
        return iter(batches)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full + (rest > 0) - (self.merge_singleton and full > 0 and rest == 1)
