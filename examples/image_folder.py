"""Train from an image folder: one sub-folder per identity, read lazily from disk.

    python examples/image_folder.py [--folder path/to/root] [--fast]

Without --folder the bundled Olivetti faces are first written out as JPEG files in that
layout (<root>/<identity>/<image>.jpg), the way face datasets ship. The embedder gets the file
paths as X: images are decoded batch by batch (in 2 DataLoader workers here), so a folder
larger than memory trains the same way.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.pipeline import Pipeline

from hypersphere_sklearn import CosineVerifier, SphereFaceREmbedder
from hypersphere_sklearn.datasets import ImageLoader, load_image_folder, load_olivetti_faces


def write_olivetti_folder(root):
    images, people = load_olivetti_faces(return_X_y=True)
    for k, (image, person) in enumerate(zip(images, people, strict=True)):
        folder = Path(root) / f"person_{person:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{k:03d}.jpg", quality=95)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", help="<root>/<identity>/<image> (default: Olivetti)")
    parser.add_argument("--fast", action="store_true", help="1 epoch on 16x16 images")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        root = args.folder or write_olivetti_folder(scratch)
        data = load_image_folder(root)
        print(f"{len(data.paths)} images of {len(data.target_names)} people in {root}")
        size, epochs = (16, 1) if args.fast else (32, 15)
        embedder = SphereFaceREmbedder(
            image_loader=ImageLoader(size=(size, size), color="grayscale", on_error="skip"),
            iterator_train__num_workers=2, max_epochs=epochs, random_state=0, verbose=0,
        )
        pipe = Pipeline([("embed", embedder), ("verify", CosineVerifier())])
        pipe.fit(data.paths, data.target)
        embeddings = pipe["embed"].transform(data.paths)
    print(f"embeddings {embeddings.shape}; threshold {pipe[-1].threshold_:.3f} calibrated on "
          f"{pipe[-1].calibrated_on_}")
    return embeddings, np.asarray(data.target)


if __name__ == "__main__":
    main()
