"""Train an embedding with a hypersphere loss head in a plain PyTorch loop.

The heads are ordinary ``torch.nn.Module`` losses: put one after any backbone, give it the
embeddings and integer labels, and step an optimizer over both. This example trains a small
MLP on scikit-learn's bundled 8x8 digits with NormFace, then scores nearest-neighbour accuracy
of the unit-norm embeddings on digits it never saw.

    python examples/heads_in_a_torch_loop.py [--head cosface] [--epochs 30]
"""

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from hypersphere_sklearn import heads

HEADS = {
    "softmax": lambda c, d: heads.SoftmaxHead(c, d),
    "normface": lambda c, d: heads.NormFaceHead(c, d, scale=16.0),
    "cosface": lambda c, d: heads.CosFaceHead(c, d, scale=16.0, margin=0.2),
    "arcface": lambda c, d: heads.ArcFaceHead(c, d, scale=16.0, margin=0.3),
    "sphereface-r": lambda c, d: heads.SphereFaceRHead(c, d, scale=16.0, margin=1.3),
}


def embed(backbone, X):
    backbone.eval()
    with torch.no_grad():
        return torch.nn.functional.normalize(backbone(X), dim=1).numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", choices=sorted(HEADS), default="normface")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=args.seed, stratify=y
    )
    labels = torch.tensor(y_train)

    backbone = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32)
    )
    head = HEADS[args.head](10, 32)
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=1e-2)

    for epoch in range(args.epochs):
        backbone.train()
        order = torch.randperm(len(X_train))
        total = 0.0
        for batch in order.split(64):
            loss = head(backbone(X_train[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(X_train):.4f}")

    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine")
    knn.fit(embed(backbone, X_train), y_train)
    accuracy = knn.score(embed(backbone, X_test), y_test)
    print(f"{args.head}: 1-NN accuracy of the embeddings on held-out digits: {accuracy:.3f}")
    return float(np.round(accuracy, 4))


if __name__ == "__main__":
    main()
