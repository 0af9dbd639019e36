"""Backbone networks that map an input to a raw (unnormalised) embedding.

Built-in backbones are chosen by name in the embedders (``backbone="small-cnn"`` ...):

- ``"mlp"``: a multilayer perceptron for 2-D data ``(n_samples, n_features)``;
- ``"small-cnn"``: a small, fast CNN for face images up to about 64 px;
- ``"sphere4"``, ``"sphere10"``, ``"sphere20"``: SphereFace's residual face CNNs
  (Liu et al., 2017), 4, 10 and 20 layers, for 112x96-style crops;
- ``"resnet"``: an improved-residual ResNet-18 for 112x112 crops (as used with ArcFace).

Any ``torch.nn.Module`` (class or instance) works as a backbone too.
"""

import copy
import inspect

import torch
from torch import nn

__all__ = [
    "MLP",
    "SmallCNN",
    "SphereNet",
    "IResNet",
    "InputScaler",
    "BACKBONES",
    "build_backbone",
    "infer_embedding_dim",
]


class InputScaler(nn.Module):
    """``(x − offset) · scale`` in float32: pixel or feature standardisation inside the model.

    Keeping it in the model lets the data travel as uint8 (four times less memory and
    host-to-device traffic) and makes a saved model carry its own preprocessing. Values are
    clipped to ±``limit`` (10,000 standard units by default: only absurd outliers), so that no
    finite input can overflow the network into NaN.
    """

    def __init__(self, offset, scale, limit=1e4):
        super().__init__()
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.limit = limit

    def forward(self, x):
        return ((x.float() - self.offset) * self.scale).clamp(-self.limit, self.limit)


class MLP(nn.Module):
    """Linear → ReLU blocks, then a linear embedding layer.

    Parameters
    ----------
    n_features : int
        Input dimension.
    embedding_dim : int
        Output dimension.
    hidden : tuple of int, default=(256,)
        Widths of the hidden layers.
    """

    def __init__(self, n_features, embedding_dim, hidden=(256,)):
        super().__init__()
        layers, width = [], n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            width = size
        layers.append(nn.Linear(width, embedding_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(1))


def conv_bn_relu(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A small, fast CNN for face images up to about 64 px.

    Three stages of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool, an adaptive pool to 4x4,
    then a linear embedding layer with batch normalisation.

    Parameters
    ----------
    in_channels : int
        1 for grayscale, 3 for RGB.
    embedding_dim : int
        Output dimension.
    widths : tuple of int, default=(32, 64, 128)
        Channels of the three stages.
    embedding_bn : bool, default=True
        Whether the embedding layer ends in a ``BatchNorm1d``. Its learned scale holds the
        feature norms in a narrow band; without it the norms are free, which is what a
        norm constraint such as Ring loss acts on.
    """

    def __init__(self, in_channels, embedding_dim, widths=(32, 64, 128), embedding_bn=True):
        super().__init__()
        layers, channels = [], in_channels
        for width in widths:
            layers += [conv_bn_relu(channels, width), conv_bn_relu(width, width), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.embedding = embedding_layer(channels * 16, embedding_dim, embedding_bn)
        # Channels-last kernels: the convolutions then run in NHWC, which oneDNN computes
        # faster on a CPU, a little in float32 and much under bfloat16 autocast (table (d) of
        # benchmarks/bench_embedders.py); the results are the same up to rounding.
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.embedding(self.features(x))


class SphereUnit(nn.Module):
    """SphereFace's residual unit: two 3x3 conv + PReLU, identity shortcut."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SphereNet(nn.Module):
    """SphereFace's face CNN (Liu et al., 2017, Table 2): 4, 10, 20, 36 or 64 conv layers.

    Four stages of a stride-2 3x3 convolution (64, 128, 256, 512 channels) followed by
    residual units (none, [0, 1, 2, 0], [1, 2, 4, 1], ... for 4, 10, 20 layers), then a fully
    connected embedding layer over the flattened feature map.

    Parameters
    ----------
    in_channels : int
        1 for grayscale, 3 for RGB.
    embedding_dim : int
        Output dimension (512 in the paper).
    depth : {4, 10, 20, 36, 64}, default=20
        Number of layers.
    image_size : tuple of int, default=(112, 96)
        Input height and width, which set the size of the flattened map.
    """

    UNITS = {4: (0, 0, 0, 0), 10: (0, 1, 2, 0), 20: (1, 2, 4, 1), 36: (2, 4, 8, 2),
             64: (3, 8, 16, 3)}

    def __init__(self, in_channels, embedding_dim, depth=20, image_size=(112, 96)):
        super().__init__()
        if depth not in self.UNITS:
            raise ValueError(f"depth must be one of {sorted(self.UNITS)}; got {depth!r}.")
        layers, channels = [], in_channels
        for width, units in zip((64, 128, 256, 512), self.UNITS[depth], strict=True):
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.PReLU(width)]
            layers += [SphereUnit(width) for _ in range(units)]
            channels = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        flat = flattened_size(self.features, in_channels, image_size)
        self.embedding = nn.Linear(flat, embedding_dim)

    def forward(self, x):
        return self.embedding(self.features(x))


class IResidual(nn.Module):
    """Improved residual block (BN-conv-BN-PReLU-conv-BN), as in ArcFace's IResNet."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        )

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class IResNet(nn.Module):
    """An improved-residual ResNet for 112x112 face crops (ResNet-18 layout by default).

    Parameters
    ----------
    in_channels : int
        1 for grayscale, 3 for RGB.
    embedding_dim : int
        Output dimension (512 in the ArcFace paper).
    blocks : tuple of int, default=(2, 2, 2, 2)
        Residual blocks per stage (64, 128, 256, 512 channels).
    image_size : tuple of int, default=(112, 112)
        Input height and width.
    embedding_bn : bool, default=True
        Whether the embedding layer ends in a ``BatchNorm1d`` (the ArcFace paper's "BN-FC-BN"
        output block has it).
    """

    def __init__(self, in_channels, embedding_dim, blocks=(2, 2, 2, 2), image_size=(112, 112),
                 embedding_bn=True):
        super().__init__()
        layers = [
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.PReLU(64),
        ]
        channels = 64
        for width, count in zip((64, 128, 256, 512), blocks, strict=True):
            layers.append(IResidual(channels, width, stride=2))
            layers += [IResidual(width, width, stride=1) for _ in range(count - 1)]
            channels = width
        layers += [nn.BatchNorm2d(channels), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        flat = flattened_size(self.features, in_channels, image_size)
        self.embedding = embedding_layer(flat, embedding_dim, embedding_bn)

    def forward(self, x):
        return self.embedding(self.features(x))


def embedding_layer(in_features, embedding_dim, batch_norm):
    """The linear embedding layer, ending in a ``BatchNorm1d`` when ``batch_norm``."""
    layers = [nn.Linear(in_features, embedding_dim)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(embedding_dim))
    return nn.Sequential(*layers)


def flattened_size(features, in_channels, image_size):
    """Width of ``features``' flattened output for one image of ``image_size``."""
    with torch.no_grad():
        was_training = features.training
        features.eval()
        size = features(torch.zeros(1, in_channels, *image_size)).shape[1]
        features.train(was_training)
    return size


#: name -> (class, extra keyword arguments)
BACKBONES = {
    "mlp": (MLP, {}),
    "small-cnn": (SmallCNN, {}),
    "sphere4": (SphereNet, {"depth": 4}),
    "sphere10": (SphereNet, {"depth": 10}),
    "sphere20": (SphereNet, {"depth": 20}),
    "resnet": (IResNet, {}),
}


def default_backbone(input_shape):
    """The built-in backbone for an input of shape ``input_shape`` (without the batch)."""
    if len(input_shape) == 1:
        return "mlp"
    return "small-cnn" if max(input_shape[1:]) <= 64 else "resnet"


def build_backbone(spec, input_shape, embedding_dim, **kwargs):
    """Make the backbone described by ``spec`` for inputs of ``input_shape``.

    Parameters
    ----------
    spec : str, torch.nn.Module subclass or instance
        A name from :data:`BACKBONES` (or ``"auto"``), a module class (instantiated with
        ``kwargs``, plus ``in_channels``/``embedding_dim`` when its signature takes them), or
        an instance (deep-copied, so the caller's module is never trained in place).
    input_shape : tuple of int
        ``(n_features,)`` or ``(channels, height, width)``.
    embedding_dim : int or None
        Output dimension for built-in backbones; for user modules it is inferred.
    **kwargs
        Extra arguments for the backbone's constructor.

    Returns
    -------
    torch.nn.Module
    """
    if isinstance(spec, str):
        name = default_backbone(input_shape) if spec == "auto" else spec
        if name not in BACKBONES:
            raise ValueError(
                f"backbone must be 'auto', one of {sorted(BACKBONES)}, or a torch.nn.Module "
                f"class or instance; got {spec!r}."
            )
        cls, defaults = BACKBONES[name]
        if (name == "mlp") != (len(input_shape) == 1):
            kind = "2-D data (n_samples, n_features)" if name == "mlp" else "images"
            raise ValueError(f"backbone={name!r} is for {kind}; the input has shape "
                             f"(n_samples, {', '.join(map(str, input_shape))}).")
        first = {"n_features": input_shape[0]} if name == "mlp" else {
            "in_channels": input_shape[0]
        }
        accepted = inspect.signature(cls).parameters
        if "image_size" in accepted:
            first["image_size"] = tuple(input_shape[1:])
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            own = sorted(set(accepted) - {*first, "embedding_dim"})
            raise ValueError(f"backbone={name!r} has no argument {unknown[0]!r} (given as "
                             f"backbone__{unknown[0]}); its arguments are {own}.")
        return cls(**first, embedding_dim=embedding_dim or 128, **{**defaults, **kwargs})
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        accepted = inspect.signature(spec).parameters
        extra = {}
        if "in_channels" in accepted and len(input_shape) == 3:
            extra["in_channels"] = input_shape[0]
        if "n_features" in accepted and len(input_shape) == 1:
            extra["n_features"] = input_shape[0]
        if "embedding_dim" in accepted and embedding_dim is not None:
            extra["embedding_dim"] = embedding_dim
        return spec(**{**extra, **kwargs})
    raise ValueError(
        "backbone must be 'auto', one of "
        f"{sorted(BACKBONES)}, or a torch.nn.Module class or instance; got {spec!r}."
    )


def infer_embedding_dim(backbone, input_shape):
    """Run two zero inputs through ``backbone`` and return its output width."""
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            out = backbone(torch.zeros(2, *input_shape))
    except Exception as error:  # the user's module does not take this input
        raise ValueError(
            f"the backbone failed on inputs of shape (batch, {', '.join(map(str, input_shape))}):"
            f" {str(error).strip()}. Use larger images or a backbone for this input (e.g. "
            "backbone='mlp', which takes each image as one vector)."
        ) from error
    finally:
        backbone.train(was_training)
    if out.ndim != 2:
        raise ValueError(
            "the backbone must return embeddings of shape (batch, embedding_dim); it returned "
            f"shape {tuple(out.shape)}. Add a flatten/linear layer at its end."
        )
    return out.shape[1]
