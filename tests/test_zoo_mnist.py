"""MNIST loaders read tiny files written here in exactly the standard IDX and Keras npz formats."""

import gzip
import struct

import numpy as np
import pytest

from heldout_core.errors import HeldoutError
from heldout_zoo import mnist


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, n_dims, big-endian uint32 dims, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def tiny_mnist(seed=0, n_train=12, n_test=5):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_idx_folder(folder, arrays, gz=True, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in mnist.IDX_FILES.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        data = idx_bytes(arrays[key])
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (True, True)])
def test_reads_idx_files_in_file_order(tmp_path, gz, dotted):
    arrays = tiny_mnist()
    write_idx_folder(tmp_path, arrays, gz=gz, dotted=dotted)
    loaded = mnist.load_mnist(tmp_path)
    for key in arrays:
        assert loaded[key].dtype == np.uint8 and np.array_equal(loaded[key], arrays[key])


def test_reads_keras_npz_file_or_folder(tmp_path):
    arrays = tiny_mnist(1)
    np.savez(tmp_path / "mnist.npz", **arrays)
    for where in (tmp_path / "mnist.npz", tmp_path):
        loaded = mnist.load_mnist(where)
        assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)


def test_experiment_scales_pixels_and_keeps_order(tmp_path):
    arrays = tiny_mnist(2)
    write_idx_folder(tmp_path, arrays)
    data = mnist.MNIST().load_data(tmp_path)
    assert data.x_train.shape == (12, 784) and data.x_train.dtype == np.float32
    assert np.allclose(data.x_train, arrays["x_train"].reshape(12, -1) / 255.0)
    assert np.array_equal(data.labels_train, arrays["y_train"]) and data.labels_train.dtype == np.int64
    assert data.n_test == 5


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(HeldoutError, match=r"MNIST was not found \(looked in .*empty\): put train-images-idx3-ubyte.gz, "
                                           r"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                                           r"\(or Keras' mnist.npz\) in a folder and pass it with --data\."):
        mnist.load_mnist(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeldoutError, match="MNIST was not found"):
        mnist.load_mnist(tmp_path / "empty")


def test_incomplete_or_malformed_idx_files_are_named(tmp_path):
    arrays = tiny_mnist()
    write_idx_folder(tmp_path / "partial", arrays, gz=False)
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(HeldoutError, match="has some MNIST IDX files but not t10k-labels-idx1-ubyte"):
        mnist.load_mnist(tmp_path / "partial")

    write_idx_folder(tmp_path / "short", arrays, gz=False)
    path = tmp_path / "short" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(HeldoutError, match=r"train-images-idx3-ubyte declares shape \(12, 28, 28\) \(9408 bytes\) but holds 9398"):
        mnist.load_mnist(tmp_path / "short")

    write_idx_folder(tmp_path / "int32", arrays, gz=False)
    path = tmp_path / "int32" / "train-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0C
    path.write_bytes(bytes(raw))
    with pytest.raises(HeldoutError, match="holds IDX type 0x0c; MNIST files hold unsigned bytes"):
        mnist.load_mnist(tmp_path / "int32")

    bad = dict(arrays, y_train=arrays["y_train"][:-1])
    write_idx_folder(tmp_path / "count", bad)
    with pytest.raises(HeldoutError, match="12 train images but 11 labels"):
        mnist.load_mnist(tmp_path / "count")


def test_npz_with_wrong_keys_is_named(tmp_path):
    np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28)))
    with pytest.raises(HeldoutError, match="has no key 'x_train'; Keras' mnist.npz has x_train, y_train, x_test, y_test"):
        mnist.load_mnist(tmp_path / "mnist.npz")
