"""Concurrency: transform and predict from several threads give the serial results."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hypersphere_sklearn as hs

THREADS = 8


def in_threads(function, chunks):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(function, chunks))


@pytest.fixture(scope="module")
def fitted(faces_16px):
    images, target = faces_16px
    embedder = hs.NormFaceEmbedder(max_epochs=2, batch_size=32, verbose=0, random_state=0,
                                   flip_fusion=True, device="cpu").fit(images, target)
    verifier = hs.CosineVerifier(unknown_label=-1, chunk_size=16).fit(
        embedder.transform(images), target)
    return embedder, verifier, images


def test_transform_from_many_threads_equals_serial(fitted):
    embedder, _, images = fitted
    chunks = [images[k::THREADS] for k in range(THREADS)] * 3
    serial = [embedder.transform(chunk) for chunk in chunks]
    for got, expected in zip(in_threads(embedder.transform, chunks), serial, strict=True):
        np.testing.assert_array_equal(got, expected)
    # the same array from every thread at once, too
    whole = in_threads(embedder.transform, [images] * THREADS)
    for got in whole:
        np.testing.assert_array_equal(got, whole[0])


def test_verifier_predict_from_many_threads_equals_serial(fitted):
    embedder, verifier, images = fitted
    E = embedder.transform(images)
    chunks = [E[k::THREADS] for k in range(THREADS)] * 3
    for method in (verifier.predict, verifier.decision_function):
        serial = [method(chunk) for chunk in chunks]
        for got, expected in zip(in_threads(method, chunks), serial, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_a_pipeline_predicts_from_many_threads(fitted):
    from sklearn.pipeline import make_pipeline

    embedder, verifier, images = fitted
    pipeline = make_pipeline(embedder, verifier)
    chunks = [images[k::THREADS] for k in range(THREADS)]
    serial = [pipeline.predict(chunk) for chunk in chunks]
    for got, expected in zip(in_threads(pipeline.predict, chunks), serial, strict=True):
        np.testing.assert_array_equal(got, expected)
