"""lvstop: htop for Linux Virtual Server directors."""

__version__ = "0.1.0"
