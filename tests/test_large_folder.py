"""Large data: fit on an image folder whose decoded images exceed the memory the process may use.

The folder is written here; a child process then caps its own data memory (``RLIMIT_DATA``) at
what it uses after a warm-up plus a budget smaller than the decoded folder, checks that the cap
is enforced, and trains and embeds from the file paths: images are read lazily, a batch at a
time, so it completes.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

PEOPLE, PER_PERSON, SIDE = 12, 100, 320
DECODED_MB = PEOPLE * PER_PERSON * SIDE * SIDE * 3 / 2**20  # 352 MiB of RGB pixels
BUDGET_MB = 200

CHILD = textwrap.dedent("""
    import re, resource, sys
    import numpy as np
    from hypersphere_sklearn import NormFaceEmbedder
    from hypersphere_sklearn.datasets import ImageLoader, load_image_folder

    folder = load_image_folder(sys.argv[1])
    budget = int(sys.argv[2]) * 2**20
    decoded = int(float(sys.argv[3]) * 2**20)

    def embedder():
        return NormFaceEmbedder(max_epochs=1, batch_size=64, verbose=0, random_state=0,
                                image_loader=ImageLoader(size=(32, 32), color="rgb"))

    # warm up: every code path, torch's threads and allocator pools, before the cap
    some = np.r_[0:20, 100:120]
    embedder().fit(folder.paths[some], folder.target[some]).transform(folder.paths[:70])

    status = open("/proc/self/status").read()
    used = int(re.search(r"VmData:\\s+(\\d+) kB", status).group(1)) * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (used + budget, resource.RLIM_INFINITY))
    try:
        np.ones(decoded, dtype=np.uint8)
    except MemoryError:
        print("cap enforced: the decoded folder does not fit")
    else:
        print("SKIP: this kernel does not enforce RLIMIT_DATA")
        sys.exit(0)

    model = embedder().fit(folder.paths, folder.target)
    Z = model.transform(folder.paths[::50])
    assert np.isfinite(Z).all() and Z.shape == (len(folder.paths[::50]), 128)
    print(f"trained on {len(folder.paths)} images ({model.n_classes_} people)")
""")


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("faces")
    rows, cols = np.mgrid[0:SIDE, 0:SIDE]
    for person in range(PEOPLE):
        (root / f"person{person:02d}").mkdir()
        stripes = ((rows + cols * person) // (8 + person)) % 2 * 120
        for k in range(PER_PERSON):  # smooth images, so the files are small on disk
            image = np.stack([stripes + k, np.roll(stripes, k, axis=1), cols % 256], -1)
            Image.fromarray(image.astype(np.uint8)).save(
                root / f"person{person:02d}" / f"{k:03d}.png", compress_level=1)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are "
                    "Linux features")
def test_fit_on_a_folder_larger_than_the_memory_allowed(big_folder):
    assert DECODED_MB > 1.5 * BUDGET_MB
    result = subprocess.run([sys.executable, "-c", CHILD, str(big_folder), str(BUDGET_MB),
                             str(DECODED_MB)], capture_output=True, text=True, timeout=600)
    if "SKIP:" in result.stdout:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cap enforced" in result.stdout
    assert f"trained on {PEOPLE * PER_PERSON} images" in result.stdout
