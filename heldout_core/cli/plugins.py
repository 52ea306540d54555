"""``heldout plugins [-v]``: the registered experiments, their plugins and defaults, broken plugins."""

from __future__ import annotations

import argparse

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser("plugins", help="list experiments, their plugins and broken plugins")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list each experiment's options")
    set_command(parser, run_plugins)


def run_plugins(args: argparse.Namespace) -> int:
    from ..plugins import get_registry

    registry = get_registry()
    rows = [("experiment", "plugin", "version", "classes", "ratios", "runs", "epochs", "data")]
    for name in sorted(registry.experiments):
        e = registry.experiments[name]
        c = e.cls
        rows.append((name, e.plugin, e.version or "-", "from data" if c.num_classes is None else str(c.num_classes),
                     ",".join(f"{r:g}" for r in c.default_ratios), str(c.default_runs), str(c.default_epochs), c.data_help))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if args.verbose and row is not rows[0]:
            for key, option in registry.experiments[row[0]].cls.options.items():
                default = ",".join(map(str, option.default)) if isinstance(option.default, tuple) else option.default
                print(f"    -o {key}={default}  {option.help}")
    if registry.broken:
        print("\nbroken plugins (skipped):")
        for broken in registry.broken:
            print(f"  {broken.name}: {broken.error}")
    return 0
