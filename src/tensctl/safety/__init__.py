"""Safety interlocks: the limits table, the formulas, and the static protocol check.

Pure functions over :mod:`tensctl.model`; nothing here does I/O.
"""

from tensctl.safety.dose import ACK_CURRENT_DENSITY
from tensctl.safety.findings import Finding, SafetyReport, Severity
from tensctl.safety.limits import LIMITS, Limit, limit
from tensctl.safety.static import check_protocol

__all__ = [
    "ACK_CURRENT_DENSITY",
    "LIMITS",
    "Finding",
    "Limit",
    "SafetyReport",
    "Severity",
    "check_protocol",
    "limit",
]
