"""Per-request redaction report, served as `extensions.privacy`.

Recording is an append of the caller's own tuples; paths are formatted and
list indices collapsed only when the report is read, so large lists cost a
few milliseconds. SHOW decisions are not redactions and are not recorded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from directives.decision import Action, Reason

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True, slots=True)
class Redaction:
    path: str
    action: Action
    reason: Reason


@dataclass(frozen=True, slots=True)
class RedactionGroup:
    path: str
    action: Action
    reason: Reason
    count: int


def format_path(path: Path, field: str, *, collapse: bool = False) -> str:
    """("users", 3) + "email" -> "users[3].email", or "users[*].email" collapsed."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += "[*]" if collapse else f"[{part}]"
        else:
            text += f".{part}" if text else part
    return f"{text}.{field}" if text else field


def _natural(entry: tuple[Path, str, Action, Reason]) -> tuple[object, ...]:
    path, field, action, reason = entry
    parts = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)
    return parts, field, action.value, reason.value


class RedactionReport:
    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[tuple[Path, str, Action, Reason]] = []

    def record(self, path: Path, field: str, action: Action, reason: Reason) -> None:
        if action is not Action.SHOW:
            self._entries.append((path, field, action, reason))

    def __len__(self) -> int:
        return len(self._entries)

    def summary(self) -> list[RedactionGroup]:
        """Grouped by collapsed path, action and reason, sorted."""
        patterns: dict[tuple[Path, str], str] = {}
        counts: Counter[tuple[str, Action, Reason]] = Counter()
        for path, field, action, reason in self._entries:
            shape = tuple(-1 if isinstance(p, int) else p for p in path), field
            pattern = patterns.get(shape)
            if pattern is None:
                pattern = patterns[shape] = format_path(path, field, collapse=True)
            counts[(pattern, action, reason)] += 1
        return [
            RedactionGroup(path, action, reason, count)
            for (path, action, reason), count in sorted(
                counts.items(), key=lambda item: (item[0][0], item[0][1].value, item[0][2].value)
            )
        ]

    def full(self) -> list[Redaction]:
        """Every concrete path, list indices in numeric order."""
        return [
            Redaction(format_path(path, field), action, reason)
            for path, field, action, reason in sorted(self._entries, key=_natural)
        ]

    def to_extension(
        self, purpose: str, policy_version: str, full: bool = False
    ) -> dict[str, object]:
        extension: dict[str, object] = {
            "purpose": str(purpose),
            "policyVersion": policy_version,
            "redactions": [
                {
                    "path": group.path,
                    "action": group.action.value,
                    "reason": group.reason.value,
                    "count": group.count,
                }
                for group in self.summary()
            ],
        }
        if full:
            extension["paths"] = [
                {"path": r.path, "action": r.action.value, "reason": r.reason.value}
                for r in self.full()
            ]
        return extension
