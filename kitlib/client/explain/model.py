"""What ``explain`` returns: an ``Explanation`` made of ``Finding``s.

A finding is one reason, in plain words with its arithmetic, and what to change. Its
``code`` is a stable identifier (tests, widgets and notebooks key on it; the wording may
improve); its ``severity`` says how it weighs on the target:

* ``info`` — by design or harmless (a partition holding pods back, nothing to do);
* ``waiting`` — progress will come by itself (a pod not yet ready, minReadySeconds);
* ``blocked`` — nothing moves until someone changes something (paused, a budget at 0,
  an unschedulable pod);
* ``error`` — something is broken (an image that cannot be pulled, a crash loop, a
  progress deadline exceeded).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SEVERITIES", "Explanation", "Finding", "Severity", "merge_by_pod", "name_list"]

Severity = Literal["info", "waiting", "blocked", "error"]
#: Severities from the mildest to the worst.
SEVERITIES: tuple[Severity, ...] = ("info", "waiting", "blocked", "error")
#: Pod names listed in one finding before the rest are counted.
MAX_NAMES = 3
#: Verbs that follow "pod <name>" in findings, made plural when pods are merged.
_PLURAL_VERBS = (("is", "are"), ("has", "have"), ("runs", "run"))
_COLOURS = {"info": "#0072B2", "waiting": "#E69F00", "blocked": "#D55E00", "error": "#CC79A7"}


@dataclass(frozen=True)
class Finding:
    """One reason why the target is (or is not) moving.

    Attributes:
        code: stable identifier, e.g. ``"max-unavailable"``, ``"image-pull"``.
        severity: ``"info"``, ``"waiting"``, ``"blocked"`` or ``"error"``.
        message: what is happening and why, with the numbers.
        hint: what to change (empty when nothing needs to change).
    """

    code: str
    severity: Severity
    message: str
    hint: str = ""

    @property
    def rank(self) -> int:
        """The severity's position in ``SEVERITIES`` (higher is worse)."""
        return SEVERITIES.index(self.severity)


@dataclass
class Explanation:
    """What is happening to a workload, pod, node or SidecarSet, and why.

    Attributes:
        target: the object explained, as kubectl names it (``"cloneset/web"``).
        summary: one sentence.
        findings: the reasons, worst first.
        facts: the numbers the findings were computed from (counts, budgets, revisions).
    """

    target: str
    summary: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        """The worst severity among the findings (``"info"`` when there are none)."""
        return max((f.severity for f in self.findings), key=SEVERITIES.index, default="info")

    @property
    def codes(self) -> list[str]:
        """The findings' codes, in order."""
        return [f.code for f in self.findings]

    def finding(self, code: str) -> Finding | None:
        """The first finding with ``code``, or None."""
        return next((f for f in self.findings if f.code == code), None)

    def __str__(self) -> str:
        lines = [f"{self.target}: {self.summary}"]
        for f in self.findings:
            lines.append(f"  [{f.severity}] {f.message}")
            if f.hint:
                lines.append(f"      → {f.hint}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<tr><td style="color:{_COLOURS[f.severity]};font-weight:bold">{f.severity}</td>'
            f"<td>{html.escape(f.message)}"
            + (f'<br><span style="color:#555">→ {html.escape(f.hint)}</span>' if f.hint else "")
            + "</td></tr>" for f in self.findings)
        return (f"<div><b>{html.escape(self.target)}</b>: {html.escape(self.summary)}"
                f'<table style="text-align:left">{rows}</table></div>')


def merge_by_pod(found: list[tuple[Finding, str]]) -> list[Finding]:
    """Findings about single pods, ``(finding, pod name)``, with the pods that share a
    problem merged into one finding ("3 pods (a, b, c) pending: …"), in first-seen order."""
    groups: dict[tuple[str, str], list[tuple[Finding, str]]] = {}
    for finding, name in found:
        key = (finding.code, finding.message.replace(name, "\0"))
        groups.setdefault(key, []).append((finding, name))
    return [_merged(members) for members in groups.values()]


def _merged(members: list[tuple[Finding, str]]) -> Finding:
    first, name = members[0]
    if len(members) == 1:
        return first
    names = [n for _, n in members]
    listed = name_list(names)
    template = first.message.replace(name, "\0")
    for singular, plural in _PLURAL_VERBS:
        template = template.replace(f"pod \0 {singular} ", f"pod \0 {plural} ")
    message = template.replace("pod \0", f"{len(names)} pods ({listed})").replace("\0", listed)
    return Finding(first.code, first.severity, message, first.hint)


def name_list(names: list[str]) -> str:
    """``a, b, c and 2 more``."""
    rest = len(names) - MAX_NAMES
    return ", ".join(names[:MAX_NAMES]) + (f" and {rest} more" if rest > 0 else "")
