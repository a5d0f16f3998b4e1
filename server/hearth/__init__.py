"""Hearth: a self-hosted AI companion server."""

__version__ = "0.1.0"
