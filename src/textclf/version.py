"""The package version: the lowest layer, so that any module (artifacts writes it into every saved
model) can read it without importing the package's public API above it."""

__version__ = "0.1.0"
