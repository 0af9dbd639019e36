"""Quick start: train an embedder and a verifier on the bundled faces, then use them.

    python examples/quick_start.py [--fast]

Trains NormFace on 30 of the 40 Olivetti people, identifies new images of those people, turns
away people it never enrolled, and verifies pairs.
"""

import argparse

import numpy as np
from sklearn.pipeline import Pipeline

from hypersphere_sklearn import CosineVerifier, NormFaceEmbedder
from hypersphere_sklearn.datasets import load_olivetti_faces


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="1 epoch on 16x16 images")
    args = parser.parse_args(argv)

    faces, people = load_olivetti_faces(return_X_y=True)
    step, epochs = (4, 1) if args.fast else (1, 15)
    faces = faces[:, ::step, ::step]
    enrolled = people < 30
    train = enrolled & (np.arange(len(people)) % 10 < 7)   # 7 images of each enrolled person
    probe = enrolled & ~train                               # their 3 others

    pipe = Pipeline([
        ("embed", NormFaceEmbedder(scale=8.0, max_epochs=epochs, random_state=0)),
        # a low false-accept rate, so that strangers are turned away in 1:N search
        ("verify", CosineVerifier(calibration="far", target_far=0.01, unknown_label="unknown")),
    ])
    pipe.fit(faces[train], people[train])

    found = pipe.predict(faces[probe])
    strangers = pipe.predict(faces[~enrolled])
    identified = float(np.mean(found == people[probe]))
    turned_away = float(np.mean(strangers == "unknown"))
    print(f"identified {identified:.0%} of new images of enrolled people")
    print(f"turned away {turned_away:.0%} of images of people never enrolled")

    embed, verifier = pipe["embed"], pipe["verify"]
    a, b = embed.transform(faces[[300, 300]]), embed.transform(faces[[301, 310]])
    print("same person?", verifier.verify(a, b).tolist(), "(images 300/301, then 300/310)")
    return identified, turned_away


if __name__ == "__main__":
    main()
