"""A third-party heldout plugin: a nearest-centroid classifier on two Gaussian blobs (numpy only).

Installed with ``pip install ./tests/example_plugin``; found through the ``heldout`` entry point.
"""

import numpy as np

from heldout_core import hookimpl
from heldout_core.experiment import ArrayData, Experiment


class Blobs(Experiment):
    name = "example-blobs"
    num_classes = 2
    default_runs = 50
    default_epochs = 1
    data_help = "built in (two Gaussian blobs, 200 train / 100 test)"

    def load_data(self, data_path):
        rng = np.random.default_rng(0)
        y = np.arange(300) % 2
        x = rng.normal(size=(300, 2)) + 2.0 * y[:, None]
        return ArrayData(x[:200], y[:200], x[200:], y[200:])

    def build_model(self, data, seed):
        return {"centroids": np.zeros((self.num_classes, data.x_train.shape[1]))}

    def train(self, model, data, subset_idx, *, seed, epochs):
        x, y = data.x_train[subset_idx], data.y_train[subset_idx]
        for k in range(self.num_classes):
            model["centroids"][k] = x[y == k].mean(axis=0)

    def predict(self, model, x):
        return ((x[:, None, :] - model["centroids"]) ** 2).sum(-1).argmin(1)

    def evaluate(self, model, data):
        return (self.predict(model, data.x_train) == data.y_train,
                self.predict(model, data.x_test) == data.y_test)

    def save_checkpoint(self, model, prefix, *, epoch):
        np.save(f"{prefix}.npy", model["centroids"])

    def restore_checkpoint(self, data, prefix):
        return {"centroids": np.load(f"{prefix}.npy")}


@hookimpl
def register_experiments(register):
    register(Blobs)
