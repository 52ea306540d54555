"""``python -m heldout_core.cli``: the same as the ``heldout`` command."""

import sys

from . import main

sys.exit(main())
