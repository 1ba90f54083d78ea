"""judgekit's version, in a module of its own so that the core can name it without importing
the package root (which imports the core)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
