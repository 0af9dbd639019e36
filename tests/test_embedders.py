"""Embedders: fit and transform on images and 2-D data, options, and the training setup."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

import hypersphere_sklearn as hs
from hypersphere_sklearn.heads import CosFaceHead, NormFaceHead, RingLossHead


def quick(cls=hs.NormFaceEmbedder, **params):
    return cls(**{"max_epochs": 2, "batch_size": 32, "verbose": 0, "random_state": 0, **params})


def blobs(n=90, classes=6, features=10):
    return make_blobs(n_samples=n, centers=classes, n_features=features, random_state=0)


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_images_in_every_layout_and_dtype(faces_16px, layout, dtype):
    images, target = faces_16px
    images = images[:80]
    X = {"NHW": images, "NHWC": images[..., None], "NCHW": images[:, None]}[layout]
    if dtype == np.float32:
        X = X.astype(np.float32) / 255.0
    embedder = quick().fit(X, target[:80])
    Z = embedder.transform(X)
    assert Z.shape == (80, 128) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    assert embedder.input_spec_.shape == (1, 16, 16)
    assert embedder.input_spec_.pixel_max == (255.0 if dtype == np.uint8 else 1.0)


def test_layouts_give_the_same_model(faces_16px):
    images, target = faces_16px
    # bitwise comparisons: on the CPU (GPU kernels need not be deterministic)
    a = quick(device="cpu").fit(images, target).transform(images)
    b = quick(device="cpu").fit(images[..., None], target).transform(images[..., None])
    c = quick(device="cpu").fit(images.astype(np.float64), target).transform(
        images.astype(np.float64))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, atol=1e-5)  # 0-255 floats are read as uint8 pixels


def test_rgb_images_channels_last(faces_16px):
    images, target = faces_16px
    rgb = np.repeat(images[:60, :, :, None], 3, axis=3)
    embedder = quick().fit(rgb, target[:60])
    assert embedder.input_spec_.shape == (3, 16, 16)
    assert embedder.transform(rgb).shape == (60, 128)


def test_string_labels_are_encoded_and_kept(faces_16px):
    images, target = faces_16px
    names = np.array([f"person-{t:02d}" for t in target])
    embedder = quick().fit(images, names)
    assert embedder.classes_[0] == "person-00" and embedder.n_classes_ == 40
    assert len(embedder.holdout_classes_) == 8  # 20 % kept for the verifier's calibration
    assert embedder.criterion_.n_classes == 32
    assert set(embedder.training_classes_) == set(names) - set(embedder.holdout_classes_)


def test_same_seed_gives_identical_embeddings_and_leaves_global_rng(faces_16px):
    images, target = faces_16px
    state = torch.get_rng_state()
    a = quick(random_state=3, device="cpu").fit(images, target).transform(images)
    assert torch.equal(torch.get_rng_state(), state)
    b = quick(random_state=3, device="cpu").fit(images, target).transform(images)
    c = quick(random_state=4).fit(images, target).transform(images)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_transform_is_batched_and_order_independent(faces_16px):
    images, target = faces_16px
    embedder = quick(batch_size=7).fit(images, target)
    Z = embedder.transform(images)
    order = np.random.default_rng(0).permutation(len(images))
    np.testing.assert_allclose(embedder.transform(images[order]), Z[order], atol=1e-6)
    np.testing.assert_allclose(embedder.transform(images[:1]), Z[:1], atol=1e-6)


def test_flip_fusion_adds_the_mirror_features_before_normalising(faces_16px):
    images, target = faces_16px
    embedder = quick(flip_fusion=True).fit(images, target)
    fused = embedder.transform(images[:10])
    x = torch.from_numpy(images[:10, None]).to(embedder.device)
    embedder.module_.eval()
    with torch.no_grad():
        raw = embedder.module_(x) + embedder.module_(x.flip(-1))
    np.testing.assert_allclose(fused, torch.nn.functional.normalize(raw).cpu().numpy(),
                               atol=1e-5)
    embedder.set_params(flip_fusion=False)
    assert not np.allclose(embedder.transform(images[:10]), fused)


def test_random_flip_mirrors_half_of_each_image_batch():
    embedder = quick()
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3).repeat(500, 1, 1, 1)
    torch.manual_seed(0)
    out = embedder.augment(x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all())
    assert 0.4 < flipped.float().mean().item() < 0.6
    assert embedder.set_params(random_flip=False).augment(x) is x
    flat = torch.randn(8, 5)
    assert quick().augment(flat) is flat  # 2-D data is never flipped


def shifted_by(image, dy, dx):
    """``image`` (C, H, W) moved down dy and right dx pixels, edges repeated (by hand)."""
    _, height, width = image.shape
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return image[:, rows][:, :, cols]


def test_random_shift_translates_each_image_within_the_bound_repeating_edges():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (400, 2, 10, 20), dtype=np.uint8))
    embedder = quick(random_flip=False, random_shift=0.2)  # up to 2 rows and 4 columns
    torch.manual_seed(0)
    out = embedder.augment(x)
    assert out.dtype == torch.uint8 and out.shape == x.shape and out.is_contiguous()
    seen = set()
    for image, moved in zip(x.numpy(), out.numpy(), strict=True):
        # random pixels: exactly one shift reproduces the output
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-4, 5)
                   if np.array_equal(shifted_by(image, dy, dx), moved)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 5 * 9  # every allowed shift occurs, the extremes included
    assert embedder.set_params(random_shift=0.0).augment(x) is x
    assert embedder.set_params(random_shift=0.01).augment(x) is x  # under half a pixel


def test_random_shift_trains_and_is_seeded(faces_16px):
    images, target = faces_16px
    a = quick(random_shift=0.1, device="cpu").fit(images, target).transform(images)
    b = quick(random_shift=0.1, device="cpu").fit(images, target).transform(images)
    c = quick(random_shift=0.0, device="cpu").fit(images, target).transform(images)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_two_dimensional_data_with_an_mlp():
    X, y = blobs()
    embedder = quick(hs.CosFaceEmbedder, embedding_dim=16).fit(X, y)
    assert isinstance(embedder.module_[1], hs.backbones.MLP)
    assert embedder.transform(X).shape == (90, 16)
    assert embedder.n_features_in_ == 10


def test_hyperparameters_reach_the_head():
    X, y = blobs()
    head = quick(hs.CosFaceEmbedder, scale=12.0, margin=0.2).fit(X, y).criterion_
    assert isinstance(head, CosFaceHead) and float(head.scale) == 12.0 and head.margin == 0.2
    ring = quick(hs.RingLossEmbedder, primary="normface", scale=9.0, ring_weight=0.5).fit(X, y)
    assert isinstance(ring.criterion_, RingLossHead)
    assert isinstance(ring.criterion_.primary, NormFaceHead)
    assert float(ring.criterion_.primary.scale) == 9.0 and ring.criterion_.ring_weight == 0.5
    r = quick(hs.SphereFaceREmbedder, version="v2", feature_norm="soft", gradient_detach=False)
    head = r.fit(X, y).criterion_
    assert (head.version, head.feature_norm, head.gradient_detach) == ("v2", "soft", False)


def test_no_weight_decay_on_scales_radii_biases_and_norm_layers(faces_16px):
    images, target = faces_16px
    embedder = quick(hs.RingLossEmbedder, primary="normface").fit(images, target)
    decayed, free = embedder.optimizer_.param_groups
    assert decayed["weight_decay"] == 0.5 and free["weight_decay"] == 0.0
    free_ids = {id(p) for p in free["params"]}
    head = embedder.criterion_
    assert id(head.radius) in free_ids and id(head.primary.weight) not in free_ids
    for name, parameter in embedder.module_.named_parameters():
        assert (id(parameter) in free_ids) == (parameter.ndim < 2), name
    learnable = quick(hs.NormFaceEmbedder, learn_scale=True).fit(images, target)
    free_ids = {id(p) for p in learnable.optimizer_.param_groups[1]["params"]}
    assert id(learnable.criterion_.scale) in free_ids


def test_optimizer_param_groups_give_parameters_their_own_learning_rate(faces_16px):
    """skorch's ``optimizer__param_groups``: AdamW's first step moves a parameter by exactly
    its learning rate (m/sqrt(v) = g/|g|), so the radius, started at 5 with its own rate,
    ends one step later at 5 ± that rate, not the network's."""
    images, target = faces_16px
    ring = quick(hs.RingLossEmbedder, radius=5.0, max_epochs=1, batch_size=len(images),
                 lr_schedule=None, optimizer__param_groups=[("radius", {"lr": 0.05})])
    head = ring.fit(images, target).criterion_
    assert abs(head.radius.item() - 5.0) == pytest.approx(0.05, rel=1e-4)
    groups = ring.optimizer_.param_groups
    own = [g for g in groups if any(p is head.radius for p in g["params"])]
    assert len(own) == 1 and len(own[0]["params"]) == 1
    assert (own[0]["lr"], own[0]["weight_decay"]) == (0.05, 0.0)
    rest = [g for g in groups if g is not own[0]]
    assert [(g["lr"], g["weight_decay"]) for g in rest] == [(ring.lr, 0.5), (ring.lr, 0.0)]
    assert sum(len(g["params"]) for g in groups) == len(list(ring.get_all_learnable_params()))


def test_the_default_decay_warns_only_with_an_optimizer_that_couples_it(recwarn):
    X, y = blobs()
    with pytest.warns(UserWarning, match=r"weight_decay=0.5 is sized for AdamW.*"
                                         r"Pass weight_decay=5e-4 .* with optimizer=SGD"):
        quick(optimizer=torch.optim.SGD).fit(X, y)
    with pytest.warns(UserWarning, match="optimizer=Adam"):
        quick(optimizer=torch.optim.Adam).fit(X, y)
    recwarn.clear()
    quick().fit(X, y)  # AdamW: decoupled
    quick(optimizer=torch.optim.SGD, weight_decay=5e-4).fit(X, y)
    quick(optimizer=torch.optim.Adam, optimizer__decoupled_weight_decay=True).fit(X, y)
    assert not [w for w in recwarn if "sized for AdamW" in str(w.message)]


def test_the_learning_rate_follows_a_cosine_schedule():
    X, y = blobs()
    history = quick(max_epochs=4, lr=0.01).fit(X, y).history
    # the closed form of cosine annealing over max_epochs, epoch by epoch
    expected = [0.01 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(history[:, "lr"], expected, rtol=1e-12)
    constant = quick(max_epochs=3, lr=0.01, lr_schedule=None).fit(X, y)
    assert constant.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01)


def test_the_loss_goes_down_and_progress_is_printed(capsys, faces_16px):
    images, target = faces_16px
    embedder = hs.NormFaceEmbedder(max_epochs=4, batch_size=32, random_state=0)
    embedder.fit(images, target)
    losses = embedder.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out and out.count("\n") >= 6


def test_progress_bar_option(capsys):
    X, y = blobs()
    quick(progress_bar=True, verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "it/s" in (captured.out + captured.err)


def test_predict_is_not_offered():
    embedder = quick()
    assert not hasattr(embedder, "predict") and not hasattr(embedder, "predict_proba")
    with pytest.raises(AttributeError, match="CosineVerifier"):
        embedder.predict(np.zeros((2, 3)))


def test_feature_names_and_pandas_output():
    X, y = blobs()
    embedder = quick(embedding_dim=4).fit(X, y)
    names = embedder.get_feature_names_out()
    assert names.tolist() == [f"normfaceembedder{i}" for i in range(4)]
    frame = embedder.set_output(transform="pandas").transform(X)
    assert list(frame.columns) == names.tolist() and frame.shape == (90, 4)


def test_custom_backbone_class_and_instance_with_inferred_dimension(faces_16px):
    images, target = faces_16px

    class Tiny(torch.nn.Module):
        def __init__(self, width=24):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, width))

        def forward(self, x):
            return self.net(x)

    by_class = quick(backbone=Tiny, backbone__width=20).fit(images, target)
    assert by_class.embedding_dim_ == 20 and by_class.transform(images).shape == (400, 20)
    instance = Tiny(12)
    before = [p.clone() for p in instance.parameters()]
    by_instance = quick(backbone=instance).fit(images, target)
    assert by_instance.embedding_dim_ == 12
    assert all(torch.equal(a, b) for a, b in zip(before, instance.parameters(), strict=True))
    with pytest.raises(ValueError, match="embedding_dim"):
        quick(backbone=Tiny, embedding_dim=64).fit(images, target)
    with pytest.raises(ValueError, match="backbone"):
        quick(backbone=torch.nn.Linear(3, 4)).fit(images, target)


@pytest.mark.parametrize("name", ["small-cnn", "sphere4", "resnet"])
def test_built_in_image_backbones_train(faces_16px, name):
    images, target = faces_16px
    embedder = quick(backbone=name, embedding_dim=32, max_epochs=1).fit(images[:64], target[:64])
    assert embedder.transform(images[:5]).shape == (5, 32)


def test_unknown_backbone_name():
    X, y = blobs()
    with pytest.raises(ValueError, match="backbone must be"):
        quick(backbone="vgg").fit(X, y)
    with pytest.raises(ValueError, match="is for images"):
        quick(backbone="small-cnn").fit(X, y)


def test_bf16_mixed_precision_trains_with_float32_heads(faces_16px):
    images, target = faces_16px
    embedder = quick(mixed_precision="bf16").fit(images, target)
    assert embedder.criterion_.weight.dtype == torch.float32
    assert np.isfinite(embedder.history[-1, "train_loss"])
    Z = embedder.transform(images)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_warns_on_a_cpu_that_emulates_it(monkeypatch, tmp_path, precision):
    from hypersphere_sklearn.embedders import _base

    X, y = blobs()
    monkeypatch.setattr(_base, "cpu_emulates", lambda p: p == precision)
    with pytest.warns(UserWarning, match=f"mixed_precision='{precision}' on a CPU without") as rec:
        embedder = quick(mixed_precision=precision, device="cpu").fit(X, y)
    assert rec[0].filename == __file__  # points at the user's call
    with pytest.warns(UserWarning, match="on a CPU without"):
        quick(mixed_precision=precision, device="cpu").partial_fit(X, y)
    embedder.save(tmp_path / "model.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hs.load(tmp_path / "model.safetensors").transform(X)  # loading warns nothing
        quick(mixed_precision=precision, device="cuda").check_mixed_precision()  # a GPU's own
        quick(device="cpu").fit(X, y)  # float32 asks nothing of the CPU
    monkeypatch.setattr(_base, "cpu_emulates", lambda p: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quick(mixed_precision=precision, device="cpu").fit(X, y)


@pytest.mark.parametrize("capabilities, precision, emulates", [
    ({"architecture": "x86_64"}, "bf16", True),
    ({"architecture": "x86_64", "avx512_bf16": True}, "bf16", False),
    ({"architecture": "x86_64", "amx_bf16": True}, "bf16", False),
    ({"architecture": "x86_64", "amx_bf16": True}, "fp16", True),
    ({"architecture": "x86_64", "avx512_fp16": True}, "fp16", False),
    ({"architecture": "AMD64", "amx_fp16": True}, "fp16", False),  # Windows' name
    ({"architecture": "aarch64"}, "bf16", False),  # not judged: an ARM CPU is not flagged
    ({"architecture": "x86_64"}, "fp8", False),  # not a mixed_precision of ours
])
def test_cpu_emulates_reads_the_cpu_capabilities(monkeypatch, capabilities, precision,
                                                 emulates):
    from hypersphere_sklearn.embedders import _base

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities, raising=False)
    assert _base.cpu_emulates(precision) is emulates
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert _base.cpu_emulates(precision) is False  # a torch that cannot tell: not flagged


def test_device_auto_resolves_but_get_params_keeps_auto():
    embedder = quick()
    assert embedder.get_params()["device"] == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert embedder.device == expected
    X, y = blobs()
    embedder.fit(X, y)
    assert next(embedder.module_.parameters()).device.type == expected
    assert embedder.get_params()["device"] == "auto"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_device():
    X, y = blobs()
    embedder = quick(device="cuda").fit(X, y)
    assert next(embedder.criterion_.parameters()).is_cuda
    assert embedder.transform(X).shape == (90, 128)


def test_warm_start_and_partial_fit_continue_training():
    X, y = blobs()
    embedder = quick(max_epochs=2)
    embedder.partial_fit(X, y)
    embedder.partial_fit(X, y)
    assert len(embedder.history) == 4
    # warm_start continues to max_epochs epochs in all, like gradient boosting's n_estimators
    warm = quick(max_epochs=2, warm_start=True).fit(X, y)
    before = warm.transform(X)
    np.testing.assert_array_equal(warm.fit(X, y).transform(X), before)
    assert len(warm.history) == 2
    assert len(warm.set_params(max_epochs=5).fit(X, y).history) == 5
    cold = quick(max_epochs=2).fit(X, y).fit(X, y)
    assert len(cold.history) == 2
    with pytest.raises(ValueError, match="not fitted on"):
        embedder.partial_fit(X, y + 100)


def test_compile_wraps_the_backbone_and_gives_the_same_embeddings():
    X, y = blobs()
    # the eager backend runs the compile path (dynamo) without minutes of code generation
    compiled = quick(compile=True, compile__backend="eager").fit(X, y)
    assert type(compiled.module_).__name__ == "OptimizedModule"
    assert isinstance(compiled.criterion_, NormFaceHead)
    np.testing.assert_allclose(compiled.transform(X), quick().fit(X, y).transform(X), atol=1e-5)


def test_fp16_mixed_precision_uses_a_grad_scaler(faces_16px):
    images, target = faces_16px
    embedder = quick(mixed_precision="fp16").fit(images, target)
    assert isinstance(embedder.grad_scaler_, torch.amp.GradScaler)
    assert np.isfinite(embedder.history[:, "train_loss"]).all()
    assert np.isfinite(embedder.transform(images)).all()
    assert not hasattr(embedder.set_params(mixed_precision=None).fit(images, target),
                       "grad_scaler_")
