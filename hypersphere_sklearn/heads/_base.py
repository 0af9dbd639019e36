"""The template every loss head is built on.

A head owns the class proxies ``weight`` of shape ``(n_classes, embedding_dim)``, takes
``(embeddings, labels)`` and returns the mean loss. Subclasses supply ``logits`` (and, when the
loss is not cross-entropy over those logits, ``loss``); everything else lives here: input
checks, float32 math under mixed precision, and the numerically careful normalisation.
"""

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_int, check_real

#: Floor on a norm before dividing by it. A zero embedding then gets a zero direction and a
#: finite (if large, about 1/NORM_EPS) gradient instead of NaN.
NORM_EPS = 1e-6


def compute_dtype(*tensors):
    """The dtype the head math runs in: float32 at least, float64 when an input is float64."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


@contextlib.contextmanager
def full_precision(device_type):
    """Switch autocast off so that cosines, logits and the loss are not computed in bf16/fp16."""
    try:
        context = torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # a device type without autocast support: nothing to switch off
        context = contextlib.nullcontext()
    with context:
        yield


def unit_vectors(x, eps=NORM_EPS):
    """Rows of ``x`` scaled to unit length, and their norms.

    Rows whose largest entry exceeds 1 are first divided by that entry (a constant for
    autograd), so that huge features do not overflow the sum of squares; the direction and the
    gradient are unchanged by that step.
    """
    peak = x.detach().abs().amax(dim=1, keepdim=True).clamp_min(1.0)
    scaled = x / peak
    scaled_norm = torch.linalg.vector_norm(scaled, dim=1, keepdim=True)
    direction = scaled / scaled_norm.clamp_min(eps)
    return direction, scaled_norm * peak


class _CosineMatrix(torch.autograd.Function):
    """cos[b, c] = x̂_b · W_c / ‖W_c‖ with a hand-written backward.

    Autograd's generic path through ``vector_norm`` makes several passes over the
    ``(n_classes, d)`` weight and accumulates two gradients for it; the closed form
    ``∂L/∂W_c = r_c (Gᵀx̂)_c − r_c² (Σ_b G_bc cos_bc) W_c`` (with ``r_c = 1/‖W_c‖``) needs one
    matmul and one fused pass.
    """

    @staticmethod
    def forward(ctx, x_hat, weight, eps):
        inverse_norm = 1.0 / torch.linalg.vector_norm(weight, dim=1).clamp_min(eps)
        cos = (x_hat @ weight.t()).mul_(inverse_norm)
        ctx.save_for_backward(x_hat, weight, inverse_norm, cos)
        return cos

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_cos):
        x_hat, weight, inverse_norm, cos = ctx.saved_tensors
        grad_raw = grad_cos * inverse_norm
        grad_x = grad_raw @ weight if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            radial = (grad_cos * cos).sum(dim=0) * inverse_norm.square()
            grad_weight = (grad_raw.t() @ x_hat).addcmul_(weight, radial[:, None], value=-1.0)
        return grad_x, grad_weight, None


def cosine_matrix(x_hat, weight, eps=NORM_EPS):
    """Cosine between each unit row of ``x_hat`` and each proxy row of ``weight``.

    The proxies' norms are divided out of the ``(batch, n_classes)`` product rather than out
    of the ``(n_classes, d)`` weight, with a closed-form backward: the same value and gradient
    as normalising the weight, with less memory traffic when there are many classes.
    """
    return _CosineMatrix.apply(x_hat, weight, eps)


class ProxyHead(nn.Module):
    """Base class of the loss heads: class proxies plus a loss over ``(embeddings, labels)``.

    Parameters
    ----------
    n_classes : int
        Number of classes (identities); labels must lie in ``[0, n_classes)``.
    embedding_dim : int
        Dimension of the embeddings the head receives.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        The class proxies (agents), kept in float32.
    """

    def __init__(self, n_classes, embedding_dim):
        super().__init__()
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        self.weight = nn.Parameter(torch.empty(self.n_classes, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self):
        """Draw the proxies as ``nn.Linear`` does."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    # -- the hooks a subclass fills in ---------------------------------------------------------
    def logits(self, x, labels=None):
        """The logits the loss is computed from; with ``labels=None`` the plain ones, no margin."""
        raise NotImplementedError

    def loss(self, logits, labels, x):
        """Mean loss of the batch from its logits. Cross-entropy unless a head says otherwise."""
        return F.cross_entropy(logits, labels)

    def advance(self):
        """Called after each training forward pass; heads with a schedule count iterations here."""

    def register_scalar(self, name, value, learnable):
        """Store a scalar hyperparameter as a trainable parameter or as a fixed buffer."""
        tensor = torch.tensor(float(value))
        if learnable:
            self.register_parameter(name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)

    # -- the template --------------------------------------------------------------------------
    def forward(self, embeddings, labels, return_logits=False):
        """Mean loss of a batch.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)
            Raw (unnormalised) features of the network.
        labels : torch.Tensor of shape (batch,)
            Integer class indices in ``[0, n_classes)``.
        return_logits : bool, default=False
            Also return the logits the loss was computed from.

        Returns
        -------
        loss : torch.Tensor
            Scalar mean loss (float32, or float64 for float64 inputs).
        logits : torch.Tensor of shape (batch, n_classes)
            Only when ``return_logits`` is true.
        """
        self.check_inputs(embeddings, labels)
        labels = labels.long()
        with full_precision(embeddings.device.type):
            x = embeddings.to(compute_dtype(embeddings, self.weight))
            logits = self.logits(x, labels)
            loss = self.loss(logits, labels, x)
        if self.training:
            self.advance()
        return (loss, logits) if return_logits else loss

    def predict_logits(self, embeddings):
        """Logits without any margin (what the head would use to classify), in float32."""
        self.check_inputs(embeddings)
        with full_precision(embeddings.device.type):
            return self.logits(embeddings.to(compute_dtype(embeddings, self.weight)))

    def check_inputs(self, embeddings, labels=None):
        """Raise ``ValueError`` unless embeddings (and labels) fit this head."""
        if not isinstance(embeddings, torch.Tensor) or not embeddings.is_floating_point():
            raise ValueError(
                "embeddings must be a floating-point torch.Tensor; got "
                f"{type(embeddings).__name__} with dtype {getattr(embeddings, 'dtype', None)}."
            )
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embeddings must have shape (batch, embedding_dim={self.embedding_dim}); got "
                f"{tuple(embeddings.shape)}. Build the head with the backbone's output dimension."
            )
        if embeddings.shape[0] == 0:
            raise ValueError("embeddings is an empty batch; pass at least one sample.")
        if labels is None:
            return
        if not isinstance(labels, torch.Tensor) or labels.dtype not in (
            torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8
        ):
            raise ValueError(
                "labels must be an integer torch.Tensor of class indices; got "
                f"{type(labels).__name__} with dtype {getattr(labels, 'dtype', None)}. "
                "Encode string labels with sklearn.preprocessing.LabelEncoder first."
            )
        if labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"labels must have shape (batch,) = ({embeddings.shape[0]},) to match embeddings; "
                f"got {tuple(labels.shape)}."
            )
        low, high = (int(v) for v in torch.aminmax(labels))
        if low < 0 or high >= self.n_classes:
            raise ValueError(
                f"labels must lie in [0, n_classes={self.n_classes}); got values from {low} to "
                f"{high}. Build the head with n_classes equal to the number of identities."
            )


def check_scale(name, value):
    """A scale (s, α) must be a finite number > 0."""
    return check_real(name, value, minimum=0.0, strict=True)
