"""What the zoo's experiments need installed, checked before any work starts.

The zoo's experiments train with TensorFlow (and Sonnet for the released networks), which the
core never imports. :class:`NeedsPackages` gives an experiment a ``check_requirements`` that
looks for its packages without importing them (``importlib.util.find_spec``, so listing or
checking stays fast) and raises one sentence saying which extra to install. The driver and
``heldout verify`` call it before loading data or writing anything.
"""

from __future__ import annotations

import importlib.util
from typing import ClassVar

from heldout_core.errors import HeldoutError

# import name -> (what it is called, the extra of this distribution that installs it)
KNOWN = {
    "tensorflow": ("TensorFlow", "tf"),
    "sonnet": ("dm-sonnet", "tf"),
    "sklearn": ("scikit-learn", "tf"),
}


def missing_packages(modules) -> list[str]:
    """The import names among ``modules`` that cannot be found."""
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            missing.append(module)
    return missing


def require(experiment: str, modules) -> None:
    """HeldoutError naming the first missing package of ``modules`` and the extra that brings it."""
    missing = missing_packages(modules)
    if missing:
        what, extra = KNOWN.get(missing[0], (missing[0], "tf"))
        raise HeldoutError(f"experiment '{experiment}' needs {what}, which is not installed: "
                           f"pip install 'heldout-influence[{extra}]' (in a checkout: pip install -e '.[{extra}]').")


class NeedsPackages:
    """Experiment mixin: ``check_requirements`` for the import names in ``requires``."""

    requires: ClassVar[tuple[str, ...]] = ("tensorflow",)

    def check_requirements(self) -> None:
        require(self.name, self.requires)
