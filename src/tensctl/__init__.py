"""tensctl: a controller for TENS stimulators.

The public surface grows issue by issue; today it is the protocol/device models
(:mod:`tensctl.model`) and the static safety check (:mod:`tensctl.safety`).
"""

__version__ = "0.1.0"
