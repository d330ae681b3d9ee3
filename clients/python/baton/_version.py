"""The package version (kept in step with Baton's, ``BatonVersion.current``)."""

__version__ = "0.11.0.dev0"
