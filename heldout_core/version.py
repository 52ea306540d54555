"""The package version, in one place (read by the CLI, run.json and the plugin registry)."""

__version__ = "0.2.0"
