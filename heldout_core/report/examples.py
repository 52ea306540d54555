"""Pictures of the examples a report shows, asked of the experiment that made the records.

The experiment is found by name in the plugin registry and asked through
:meth:`heldout_core.experiment.Experiment.images` for just the ids the figures show. Whatever
stops it (no experiment of that name installed, no ``--data``, a missing package, an experiment
without pictures) becomes one sentence in the report, and the grids show ids instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HeldoutError
from ..example_images import display_image


@dataclass
class ExampleImages:
    """Pictures by split and id: ``train`` and ``test`` map an example id to a float image
    (H, W) or (H, W, 3) in [0, 1]; ``missing`` says why there are none, in a few words (or None)."""

    train: dict[int, np.ndarray] = field(default_factory=dict)
    test: dict[int, np.ndarray] = field(default_factory=dict)
    missing: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.train or self.test)


def _pictures(experiment, data_path: Path | None, split: str, ids: np.ndarray) -> dict[int, np.ndarray]:
    if not len(ids):
        return {}
    images = experiment.images(data_path, split, ids)
    if images is None:
        return {}
    if len(images) != len(ids):
        raise HeldoutError(f"experiment '{experiment.name}' returned {len(images)} {split} images for {len(ids)} ids.")
    return {int(i): display_image(image, f"experiment '{experiment.name}''s {split} image {int(i)}")
            for i, image in zip(ids, images) if image is not None}


def fetch_images(name: str | None, data_path: Path | None, train_ids, test_ids) -> ExampleImages:
    """Pictures of ``train_ids`` and ``test_ids`` from experiment ``name``, or the reason why not."""
    from ..plugins import get_registry

    train_ids = np.unique(np.asarray(train_ids, dtype=np.int64))
    test_ids = np.unique(np.asarray(test_ids, dtype=np.int64))
    if not name:
        return ExampleImages(missing="the records do not name their experiment; pass --experiment")
    registry = get_registry()
    if name not in registry.experiments:
        return ExampleImages(missing=f"no installed plugin provides experiment '{name}'")
    try:
        experiment = registry.create(name)
        pictures = ExampleImages(_pictures(experiment, data_path, "train", train_ids),
                                 _pictures(experiment, data_path, "test", test_ids))
    except (HeldoutError, ImportError, OSError) as exc:  # missing data or packages: say so, draw ids
        return ExampleImages(missing=str(exc).rstrip("."))
    if not pictures.any:
        pictures.missing = f"experiment '{name}' has no pictures of its examples (for this data)"
    return pictures
