"""What the safety check reports: one :class:`Finding` per rule hit, gathered in a report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from tensctl.safety.limits import Limit


class Severity(StrEnum):
    violation = "violation"  # blocks the session
    warning = "warning"  # shown, logged, does not block
    diagnostic = "diagnostic"  # information only, never a pass or a fail


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    path: str
    value: float | str | None = None
    limit: float | str | None = None
    unit: str = ""
    source: str = ""
    channel: int | None = None

    @classmethod
    def against(
        cls,
        rule: str,
        severity: Severity,
        message: str,
        path: str,
        value: float,
        lim: Limit,
        channel: int | None = None,
    ) -> Finding:
        return cls(rule, severity, message, path, value, lim.value, lim.unit, lim.cite(), channel)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SafetyReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.violation]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.warning]

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self, severity: Severity | None = None) -> set[str]:
        return {f.rule for f in self.findings if severity is None or f.severity is severity}
