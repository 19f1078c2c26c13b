"""The simulator as a process, for the end-to-end tests (see :mod:`tenssim.process`)."""

from tenssim.process import SimProcess

__all__ = ["SimProcess"]
