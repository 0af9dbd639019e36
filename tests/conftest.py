import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hypersphere_sklearn import heads

N_CLASSES, DIM = 5, 4


def all_heads(n_classes=N_CLASSES, dim=DIM):
    """One instance of every head configuration, keyed by a readable id."""
    return {
        "softmax": heads.SoftmaxHead(n_classes, dim),
        "l2softmax": heads.L2SoftmaxHead(n_classes, dim, alpha=6.0),
        "l2softmax-learn": heads.L2SoftmaxHead(n_classes, dim, alpha=6.0, learn_alpha=True),
        "normface": heads.NormFaceHead(n_classes, dim, scale=8.0),
        "normface-learn": heads.NormFaceHead(n_classes, dim, scale=8.0, learn_scale=True),
        "c-contrastive": heads.CContrastiveHead(n_classes, dim),
        "c-contrastive-hard": heads.CContrastiveHead(n_classes, dim, hardest_negative=True),
        "c-triplet": heads.CTripletHead(n_classes, dim),
        "c-triplet-hard": heads.CTripletHead(n_classes, dim, hardest_negative=True),
        "cosface": heads.CosFaceHead(n_classes, dim, scale=8.0, margin=0.35),
        "arcface": heads.ArcFaceHead(n_classes, dim, scale=8.0, margin=0.5),
        "arcface-easy": heads.ArcFaceHead(n_classes, dim, scale=8.0, beyond_pi="easy"),
        "arcface-clip": heads.ArcFaceHead(n_classes, dim, scale=8.0, beyond_pi="clip"),
        "sphereface": heads.SphereFaceHead(n_classes, dim, margin=4),
        "sphereface-scaled": heads.SphereFaceHead(n_classes, dim, margin=3, scale=8.0),
        **{
            f"sphereface-r-{version}-{norm}-{'cgd' if cgd else 'nocgd'}": heads.SphereFaceRHead(
                n_classes, dim, margin=1.5, scale=8.0, version=version, feature_norm=norm,
                gradient_detach=cgd, margin_warmup_steps=0,
            )
            for version in ("v1", "v2")
            for norm in ("hard", "soft", "none")
            for cgd in (True, False)
        },
        "ring-softmax": heads.RingLossHead(heads.SoftmaxHead(n_classes, dim), ring_weight=0.5),
        "ring-normface": heads.RingLossHead(
            heads.NormFaceHead(n_classes, dim, scale=8.0), ring_weight=0.5, radius=2.0
        ),
    }


#: Heads whose backward pass is deliberately not the derivative of the forward value.
DETACHED = [name for name, head in all_heads().items() if getattr(head, "gradient_detach", False)]


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)


def two_class_setup(head, norm=1.0, degrees=30.0):
    """losses.md §7: unit proxies (1, 0) and (0, 1), one class-0 feature at ``degrees``."""
    with torch.no_grad():
        head.weight.copy_(torch.eye(2, dtype=head.weight.dtype))
    t = math.radians(degrees)
    x = norm * torch.tensor([[math.cos(t), math.sin(t)]], dtype=head.weight.dtype)
    return x, torch.tensor([0])


HEAD_NAMES = list(all_heads())
UNDETACHED = [name for name in HEAD_NAMES if name not in DETACHED]


@pytest.fixture
def head(head_name):
    """The head ``head_name`` of :func:`all_heads`, in eval mode so that schedules stand still."""
    torch.manual_seed(0)
    return all_heads()[head_name].eval()


@pytest.fixture(scope="session")
def faces_16px():
    """Olivetti downsampled to 16x16 (uint8): real faces, fast enough for many tests."""
    from hypersphere_sklearn.datasets import load_olivetti_faces

    images, target = load_olivetti_faces(return_X_y=True)
    return images[:, ::4, ::4].copy(), target


@pytest.fixture(scope="session")
def faces_32px():
    from hypersphere_sklearn.datasets import load_olivetti_faces

    images, target = load_olivetti_faces(return_X_y=True)
    return images[:, ::2, ::2].copy(), target


ROOT = Path(__file__).resolve().parents[1]


def load_script(folder, name):
    """Import ``<repo>/<folder>/<name>.py`` (a benchmark or example script) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_lfw_arrays(path, n_people=12, per_person=4, seed=0):
    """A small file with the keys (and meaning) of the real preprocessed LFW arrays."""
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(n_people), per_person)
    images = rng.integers(0, 256, size=(len(target), 62, 47), dtype=np.uint8)
    same_pairs = np.array([[p * per_person, p * per_person + 1] for p in range(n_people)])
    diff_pairs = np.array([[p * per_person, ((p + 1) % n_people) * per_person]
                           for p in range(n_people)])
    pairs = np.concatenate([same_pairs, diff_pairs])
    same = np.r_[np.ones(n_people, bool), np.zeros(n_people, bool)]
    np.savez(path, images=images, target=target,
             target_names=np.array([f"P_{i}" for i in range(n_people)]),
             filenames=np.array([f"f{i}.jpg" for i in range(len(target))]),
             pairs_devtrain=pairs[:4], pairs_devtrain_issame=same[:4],
             pairs_devtest=np.concatenate([same_pairs[8:12], diff_pairs[:4]]),
             pairs_devtest_issame=np.r_[np.ones(4, bool), np.zeros(4, bool)],
             pairs_10fold=pairs, pairs_10fold_issame=same,
             pairs_10fold_fold=np.arange(len(pairs)) % 10)
    return path
