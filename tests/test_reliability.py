"""Training that fails safely: divergence, gradient clipping, Ctrl-C, checkpoints and resume."""

import os
import signal
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

import hypersphere_sklearn as hs
from hypersphere_sklearn import TrainingDivergedError
from hypersphere_sklearn.embedders import _methods

EMBEDDERS = [getattr(_methods, name) for name in hs.embedders.__all__
             if name.endswith("Embedder") and name != "HypersphereEmbedder"]


def quick(cls=hs.NormFaceEmbedder, **params):
    """On the CPU: bitwise comparisons (GPU kernels need not be deterministic)."""
    return cls(**{"max_epochs": 3, "batch_size": 32, "verbose": 0, "random_state": 0,
                  "device": "cpu", **params})


def weights(embedder):
    """The learnable parameters (batch-norm running statistics are not weights: they follow
    every forward pass, the one of a step that is then abandoned too)."""
    return {k: v.detach().clone() for k, v in embedder.get_all_learnable_params()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


class At(Callback):
    """Runs ``action(net)`` at one hook of one (1-based) epoch and batch of training."""

    def __init__(self, hook, epoch, batch, action):
        self.hook, self.epoch, self.batch, self.action = hook, epoch, batch, action

    def here(self, net, training):
        return (training and len(net.history) == self.epoch
                and len(net.history[-1]["batches"]) == self.batch)

    def on_batch_end(self, net, training=False, **kwargs):
        if self.hook == "on_batch_end" and self.here(net, training):
            self.action(net)

    def on_grad_computed(self, net, named_parameters, training=False, **kwargs):
        if self.hook == "on_grad_computed" and self.here(net, training):
            self.action(net)

    def on_epoch_end(self, net, **kwargs):
        if self.hook == "on_epoch_end" and len(net.history) == self.epoch:
            self.action(net)


class Recorder(Callback):
    """Keeps the backbone's weights at the end of every training batch."""

    def initialize(self):
        self.after = {}
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.after[len(net.history), len(net.history[-1]["batches"])] = weights(net)


def interrupt(net):
    raise KeyboardInterrupt


# -- divergence --------------------------------------------------------------------------------
def poison_gradient(net):
    next(net.module_.parameters()).grad.fill_(float("nan"))


def test_a_non_finite_gradient_stops_training_with_a_clear_error(faces_16px):
    images, target = faces_16px
    recorder = Recorder()
    embedder = quick(callbacks=[("record", recorder),
                                ("poison", At("on_grad_computed", 2, 3, poison_gradient))])
    with pytest.raises(TrainingDivergedError) as caught:
        embedder.fit(images, target)
    message = str(caught.value)
    assert "epoch 2, batch 3" in message and "gradient norm is nan" in message
    assert "lr=0.0002" in message and "max_grad_norm" in message
    assert isinstance(caught.value, ValueError)
    # the bad step was never taken: the weights are those after batch 2 of epoch 2
    assert_same_weights(weights(embedder), recorder.after[2, 2])
    Z = embedder.transform(images)
    assert np.isfinite(Z).all() and Z.shape == (len(images), 128)
    assert len(embedder.history) == 1  # the unfinished epoch is not counted


def test_a_diverging_learning_rate_keeps_finite_weights_that_transform(faces_16px):
    images, target = faces_16px
    embedder = quick(hs.SoftmaxEmbedder, lr=1e30, optimizer=torch.optim.SGD)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch \d+: the loss is nan"):
        embedder.fit(images, target)
    assert np.isfinite(embedder.transform(images)).all()
    assert all(torch.isfinite(p).all() for p in embedder.module_.parameters())


class InitialWeights(Callback):
    def on_train_begin(self, net, **kwargs):
        self.weights = weights(net)


def test_a_step_size_beyond_float32_stops_with_a_clear_error(faces_16px):
    images, target = faces_16px
    initial = InitialWeights()
    embedder = quick(hs.SoftmaxEmbedder, lr=1e38, callbacks=[("initial", initial)])
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 1: the optimizer's step "
                       r"overflowed float32.*lr=1e\+38.*last weights known to be good"):
        embedder.fit(images, target)
    # AdamW's weight decay had already scaled the weights by 1 - lr * wd: they are not kept
    assert_same_weights(weights(embedder), initial.weights)
    assert np.isfinite(embedder.transform(images)).all()


def spoil_weights(net):
    next(net.module_.parameters()).data.fill_(float("inf"))


def test_weights_spoiled_by_an_epochs_last_step_never_reach_a_checkpoint(faces_16px, tmp_path):
    images, target = faces_16px
    recorder = Recorder()
    # one batch per epoch: batch 1 is the epoch's last step, checked by no later step
    embedder = quick(batch_size=10_000, checkpoint_dir=tmp_path, callbacks=[
        ("record", recorder), ("spoil", At("on_batch_end", 3, 1, spoil_weights))])
    with pytest.raises(TrainingDivergedError, match="the epoch's last step left weights that "
                       "are not finite.*last weights known to be good"):
        embedder.fit(images, target)
    assert_same_weights(weights(embedder), recorder.after[2, 1])
    assert len(embedder.history) == 2 and np.isfinite(embedder.transform(images)).all()
    resumed = quick(batch_size=10_000, checkpoint_dir=tmp_path, warm_start=True, max_epochs=2)
    resumed.fit(images, target)  # from the checkpoint of epoch 2: nothing left to train
    assert_same_weights(weights(resumed), recorder.after[2, 1])


def test_weights_spoiled_just_before_an_interrupt_are_not_kept(faces_16px):
    images, target = faces_16px
    recorder = Recorder()
    embedder = quick(callbacks=[("record", recorder), ("spoil", At(
        "on_batch_end", 2, 2, lambda net: (spoil_weights(net), interrupt(net))))])
    with pytest.raises(TrainingDivergedError, match="the step before the interrupt left"):
        embedder.fit(images, target)
    assert_same_weights(weights(embedder), recorder.after[1, max(
        batch for epoch, batch in recorder.after if epoch == 1)])
    assert len(embedder.history) == 1


def test_features_that_overflow_keep_their_direction_and_nan_features_are_refused(faces_16px):
    from hypersphere_sklearn.embedders._base import unit_features

    inf, nan = float("inf"), float("nan")
    features = torch.tensor([[inf, 1.0, -inf], [3e38, 3e38, 0.0], [3.0, 0.0, 4.0],
                             [inf, float("nan"), 0.0]])
    half = 0.5 ** 0.5
    torch.testing.assert_close(unit_features(features), torch.tensor(
        [[half, 0.0, -half], [half, half, 0.0], [0.6, 0.0, 0.8], [nan, nan, nan]]),
        equal_nan=True)
    images, target = faces_16px
    embedder = quick(max_epochs=1).fit(images, target)
    for p in embedder.module_.parameters():
        p.data.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN features for finite input.*lower learning rate"):
        embedder.transform(images)


def test_the_message_suggests_gradient_detachment_for_margin_losses(faces_16px):
    images, target = faces_16px
    embedder = quick(hs.SphereFaceREmbedder, gradient_detach=False, callbacks=[
        ("poison", At("on_grad_computed", 1, 2, poison_gradient))])
    with pytest.raises(TrainingDivergedError, match="gradient_detach=True"):
        embedder.fit(images, target)
    fp16 = quick(hs.CosFaceEmbedder, mixed_precision="fp16", callbacks=[
        ("nan", At("on_grad_computed", 1, 2, lambda net: net.criterion_.weight.data.fill_(
            float("nan"))))])
    with pytest.raises(TrainingDivergedError, match="smaller margin"):
        fp16.fit(images, target)
    # the loss scaler was left unscaled by the failed step; a fresh one lets training go on
    with pytest.raises(TrainingDivergedError, match="smaller margin"):
        fp16.partial_fit(images, target)


@pytest.mark.parametrize("cls", EMBEDDERS, ids=lambda c: c.__name__)
def test_every_embedder_clips_gradients(cls):
    assert cls().get_params()["max_grad_norm"] is None
    with pytest.raises(ValueError, match="max_grad_norm"):
        cls(max_grad_norm=0.0).fit(np.eye(4), [0, 0, 1, 1])


class StartingWeights(Callback):
    def on_train_begin(self, net, **kwargs):
        self.params = [p.detach().clone() for _, p in net.get_all_learnable_params()]


def test_clipping_bounds_the_norm_of_an_sgd_step():
    """One full-batch SGD step with lr=1 moves the parameters by exactly the clipped gradient."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), np.repeat(np.arange(4), 10)

    def step_length(max_grad_norm):
        start = StartingWeights()
        embedder = quick(hs.SoftmaxEmbedder, max_epochs=1, batch_size=40, lr=1.0,
                         optimizer=torch.optim.SGD, weight_decay=0.0, lr_schedule=None,
                         calibration_holdout=0, max_grad_norm=max_grad_norm,
                         callbacks=[("start", start)]).fit(X, y)
        after = [p.detach() for _, p in embedder.get_all_learnable_params()]
        return float(torch.linalg.vector_norm(
            torch.cat([(a - b).reshape(-1) for a, b in zip(after, start.params, strict=True)])))

    assert step_length(1e-3) == pytest.approx(1e-3, rel=1e-4)
    assert step_length(None) > 1e-2


# -- interruption ------------------------------------------------------------------------------
def test_keyboard_interrupt_from_a_callback_leaves_a_fitted_embedder(faces_16px):
    images, target = faces_16px
    recorder = Recorder()
    embedder = quick(callbacks=[("record", recorder),
                                ("stop", At("on_batch_end", 2, 2, interrupt))])
    assert embedder.fit(images, target) is embedder
    assert_same_weights(weights(embedder), recorder.after[2, 2])
    assert len(embedder.history) == 1
    assert np.isfinite(embedder.transform(images)).all()


def test_an_interrupt_in_the_middle_of_a_step_keeps_the_previous_step(faces_16px):
    images, target = faces_16px
    recorder = Recorder()
    embedder = quick(callbacks=[("record", recorder),
                                ("stop", At("on_grad_computed", 2, 3, interrupt))])
    embedder.fit(images, target)
    assert_same_weights(weights(embedder), recorder.after[2, 2])


@pytest.fixture
def python_sigint_handler():
    """Python's own Ctrl-C handler, whatever the test process was started with (a shell
    starts background jobs with SIGINT ignored, and then the embedder rightly leaves it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_training_after_the_current_batch(faces_16px, capsys,
                                                       python_sigint_handler):
    images, target = faces_16px
    recorder = Recorder()
    press = At("on_grad_computed", 1, 2, lambda net: os.kill(os.getpid(), signal.SIGINT))
    embedder = quick(callbacks=[("record", recorder), ("press", press)])
    embedder.fit(images, target)
    # the batch in flight when Ctrl-C came was finished, and nothing after it
    assert max(recorder.after) == (1, 2)
    assert_same_weights(weights(embedder), recorder.after[1, 2])
    assert "training stops after this batch" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- checkpoints and resume --------------------------------------------------------------------
@pytest.mark.parametrize("cls", [hs.NormFaceEmbedder, hs.SphereFaceREmbedder,
                                 hs.RingLossEmbedder], ids=lambda c: c.__name__)
def test_a_run_interrupted_and_resumed_equals_an_uninterrupted_one(cls, faces_16px, tmp_path):
    images, target = faces_16px
    settings = {"max_epochs": 4, "learn_scale": True} if cls is hs.NormFaceEmbedder else {
        "max_epochs": 4}
    uninterrupted = quick(cls, **settings).fit(images, target)
    stopped = quick(cls, **settings, checkpoint_dir=tmp_path,
                    callbacks=[("stop", At("on_batch_end", 3, 2, interrupt))])
    stopped.fit(images, target)  # stops in epoch 3; the checkpoint is of epoch 2
    assert len(stopped.history) == 2
    # a new process: a new estimator with the same settings finds the checkpoint
    resumed = quick(cls, **settings, checkpoint_dir=tmp_path, warm_start=True)
    resumed.fit(images, target)
    assert len(resumed.history) == 4
    np.testing.assert_array_equal(resumed.transform(images), uninterrupted.transform(images))
    np.testing.assert_array_equal(resumed.history[:, "lr"], uninterrupted.history[:, "lr"])


def test_warm_start_in_the_same_process_continues_exactly(faces_16px):
    images, target = faces_16px
    uninterrupted = quick(max_epochs=4).fit(images, target)
    stopped = quick(max_epochs=4, callbacks=[("stop", At("on_epoch_end", 2, 0, interrupt))])
    stopped.fit(images, target)
    stopped.set_params(callbacks=None, warm_start=True).fit(images, target)
    np.testing.assert_array_equal(stopped.transform(images), uninterrupted.transform(images))


def test_a_checkpoint_holds_the_optimizer_and_partial_fit_continues_from_it(faces_16px,
                                                                            tmp_path):
    images, target = faces_16px
    embedder = quick(max_epochs=2, checkpoint_dir=tmp_path).fit(images, target)
    checkpoint = tmp_path / "checkpoint.safetensors"
    loaded = hs.NormFaceEmbedder.load(checkpoint)
    ours, theirs = embedder.optimizer_.state_dict(), loaded.optimizer_.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    for index, state in ours["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(theirs["state"][index][key], value, rtol=0, atol=0)
    # partial_fit on both continues identically: optimizer, schedule and RNG restored
    embedder.partial_fit(images, target)
    loaded.partial_fit(images, target)
    np.testing.assert_array_equal(loaded.transform(images), embedder.transform(images))
    fresh = quick(max_epochs=1, checkpoint_dir=tmp_path)
    fresh.partial_fit(images, target)  # picks up the checkpoint (now of epoch 4) and adds one
    assert len(fresh.history) == 5


def test_resuming_with_other_settings_warns_and_fresh_fits_overwrite(faces_16px, tmp_path,
                                                                     capsys):
    images, target = faces_16px
    quick(max_epochs=2, checkpoint_dir=tmp_path).fit(images, target)
    with pytest.warns(UserWarning, match=r"other than those it was written with \(lr\)"):
        quick(max_epochs=3, lr=1e-3, checkpoint_dir=tmp_path, warm_start=True).fit(images,
                                                                                   target)
    quick(max_epochs=1, checkpoint_dir=tmp_path, verbose=1).fit(images, target)
    assert "will be overwritten" in capsys.readouterr().out
    assert len(hs.load(tmp_path / "checkpoint.safetensors").history) == 1


def test_warm_start_with_nothing_left_to_train_says_so(faces_16px, capsys):
    images, target = faces_16px
    embedder = quick(max_epochs=1, warm_start=True).fit(images, target)
    embedder.set_params(verbose=1).fit(images, target)
    assert "raise max_epochs" in capsys.readouterr().out


def test_callbacks_disable_keeps_the_schedule_and_checkpoints(faces_16px, tmp_path):
    images, target = faces_16px
    embedder = quick(max_epochs=2, callbacks="disable", checkpoint_dir=tmp_path)
    embedder.fit(images, target)
    assert embedder.history[:, "lr"][1] < embedder.history[:, "lr"][0]
    assert (tmp_path / "checkpoint.safetensors").is_file()


def test_no_warning_for_a_plain_fit(faces_16px):
    images, target = faces_16px
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quick(max_epochs=1).fit(images, target)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checkpoints_and_divergence_on_the_gpu(faces_16px, tmp_path):
    images, target = faces_16px
    stopped = quick(max_epochs=3, device="cuda", checkpoint_dir=tmp_path,
                    callbacks=[("stop", At("on_epoch_end", 1, 0, interrupt))])
    stopped.fit(images, target)
    assert "cuda" in stopped.rng_state_
    resumed = quick(max_epochs=3, device="cuda", checkpoint_dir=tmp_path, warm_start=True)
    resumed.fit(images, target)
    assert len(resumed.history) == 3 and np.isfinite(resumed.transform(images)).all()
    poisoned = quick(device="cuda", callbacks=[
        ("poison", At("on_grad_computed", 1, 2, poison_gradient))])
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 2"):
        poisoned.fit(images, target)
    assert np.isfinite(poisoned.transform(images)).all()
