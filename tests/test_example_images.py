"""Pictures of examples: :func:`as_images` on the shapes experiments hold, the checks of what an
experiment returns, and the zoo's ``images`` methods (digits, MNIST, arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from heldout_core.errors import HeldoutError
from heldout_core.example_images import as_images, display_image
from heldout_core.experiment import Experiment
from heldout_core.report.examples import fetch_images
from heldout_zoo.arrays import Arrays
from heldout_zoo.mnist import MNIST

from conftest import requires_sklearn


@pytest.mark.parametrize("shape, expected", [
    ((4, 64), (4, 8, 8)),  # flattened digits
    ((4, 784), (4, 28, 28)),  # flattened MNIST
    ((4, 28, 28), (4, 28, 28)),
    ((4, 32, 32, 3), (4, 32, 32, 3)),
    ((4, 3, 32, 32), (4, 32, 32, 3)),  # channels first
    ((4, 16, 16, 1), (4, 16, 16)),
    ((4, 16, 16, 4), (4, 16, 16, 3)),  # alpha dropped
    ((4, 10), None),  # tabular features
    ((4, 8, 8, 2), None),
    ((4,), None),
])
def test_as_images_takes_image_shapes_only(shape, expected):
    got = as_images(np.random.default_rng(0).random(shape) * 7 - 3)
    assert (got is None) if expected is None else (got.shape == expected and got.dtype == np.float32)
    if got is not None:
        assert got.min() == 0.0 and got.max() == 1.0  # rescaled over the batch


def test_scaling_keeps_uint8_and_unit_floats():
    pixels = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    np.testing.assert_allclose(as_images(pixels)[0], [[0, 1], [0.2, 0.4]])
    unit = np.full((1, 2, 2), 0.25)
    np.testing.assert_allclose(as_images(unit), unit)  # already in [0, 1]: contrast kept, not stretched
    assert display_image(np.zeros((3, 3, 1), np.uint8), "x").shape == (3, 3)
    for bad in (np.zeros(5), np.full((2, 2), 2.0), np.full((2, 2), np.nan), np.zeros((2, 2, 2))):
        with pytest.raises(HeldoutError, match="^x must"):
            display_image(bad, "x")


def test_the_default_experiment_has_no_pictures(example_plugin):
    from heldout_core.plugins import get_registry

    blobs = get_registry().create("example-blobs")
    assert Experiment.images(blobs, None, "train", np.arange(3)) is None
    pictures = fetch_images("example-blobs", None, [0, 1], [0])
    assert not pictures.any and "has no pictures" in pictures.missing


def test_arrays_pictures_keep_the_file_shape(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(6, 12, 10), dtype=np.uint8)  # not square: only the file knows its shape
    np.savez(tmp_path / "mine.npz", x_train=x_train, y_train=np.arange(6) % 2, x_test=x_train[:2], y_test=[0, 1])
    pictures = Arrays().images(tmp_path / "mine.npz", "train", np.array([4, 1]))
    np.testing.assert_allclose(pictures, x_train[[4, 1]] / 255.0)
    np.savez(tmp_path / "table.npz", x_train=rng.random((6, 5)), y_train=np.arange(6) % 2, x_test=rng.random((2, 5)),
             y_test=[0, 1])
    assert Arrays().images(tmp_path / "table.npz", "test", np.array([0])) is None
    with pytest.raises(HeldoutError, match="needs --data"):
        Arrays().images(None, "train", np.array([0]))
    shown = fetch_images("arrays", None, [0], [])
    assert shown.missing.startswith("experiment 'arrays' needs --data")


def test_mnist_pictures_are_28_by_28(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.arange(5), x_test=x[:2], y_test=np.arange(2))
    pictures = MNIST().images(tmp_path / "mnist.npz", "train", np.array([3]))
    np.testing.assert_allclose(pictures[0], x[3] / 255.0, atol=1e-6)


@requires_sklearn
def test_digits_pictures_through_the_registry():
    from sklearn.datasets import load_digits

    shown = fetch_images("digits", None, [5, 0, 5], [2])
    assert shown.missing is None and sorted(shown.train) == [0, 5] and list(shown.test) == [2]
    np.testing.assert_allclose(shown.train[5], load_digits().images[5] / 16.0, atol=1e-6)
    np.testing.assert_allclose(shown.test[2], load_digits().images[1202] / 16.0, atol=1e-6)
