"""boxtui — an end-to-end encrypted messenger for the terminal, and its server."""

__version__ = "0.1.0"
