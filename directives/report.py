"""Per-request redaction report, served as `extensions.privacy`.

Recording counts by path shape (list indices collapsed); concrete paths are kept only
for a full report. Paths are formatted when the report is read. SHOW decisions are not
redactions and are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    """Counts per (path shape, field, action, reason); concrete paths only when asked for.

    A list of N objects hidden alike is one `record_many` call, not N appends, so a
    5,000-row page costs a handful of dictionary updates.
    """

    __slots__ = ("_alike", "_counts", "_paths")

    def __init__(self, *, keep_paths: bool = True) -> None:
        self._counts: dict[tuple[Path, str, Action, Reason], int] = {}
        self._paths: list[tuple[Path, str, Action, Reason]] | None = [] if keep_paths else None
        # (shape, id(hidden), id(keys)) -> [hidden, keys, count]: objects recorded alike,
        # expanded into counts when the report is read.
        self._alike: dict[tuple[Path, int, int], list[Any]] = {}

    def record(self, path: Path, field: str, action: Action, reason: Reason) -> None:
        if action is Action.SHOW:
            return
        shape = tuple(-1 if isinstance(p, int) else p for p in path)
        key = (shape, field, action, reason)
        self._counts[key] = self._counts.get(key, 0) + 1
        if self._paths is not None:
            self._paths.append((path, field, action, reason))

    def record_many(
        self, shape: Path, field: str, action: Action, reason: Reason, count: int
    ) -> None:
        """`count` list items under `shape` (list positions given as -1) hid `field` alike."""
        if action is Action.SHOW or count <= 0:
            return
        key = (shape, field, action, reason)
        self._counts[key] = self._counts.get(key, 0) + count

    def record_alike(
        self,
        shape: Path,
        hidden: Sequence[tuple[str, Action, Reason]],
        keys: Mapping[str, Sequence[str]],
        count: int = 1,
    ) -> None:
        """`count` objects under `shape` hid `hidden` (field name, action, reason) alike;
        `keys` maps a field name to the response keys (aliases) it was selected under.

        One dictionary update per call, however many fields: a page of 1,000 orders, each
        with a buyer, costs 1,000 cheap calls. `hidden` and `keys` must not change after.
        """
        key = (shape, id(hidden), id(keys))
        entry = self._alike.get(key)
        if entry is None:
            self._alike[key] = [hidden, keys, count]
        else:
            entry[2] += count

    def _settle(self) -> None:
        for (shape, _, _), (hidden, keys, count) in self._alike.items():
            for name, action, reason in hidden:
                for field in keys.get(name, ()):
                    self.record_many(shape, field, action, reason, count)
        self._alike.clear()

    @property
    def keeps_paths(self) -> bool:
        return self._paths is not None

    def __len__(self) -> int:
        self._settle()
        return sum(self._counts.values())

    def summary(self) -> list[RedactionGroup]:
        """Grouped by collapsed path, action and reason, sorted."""
        self._settle()
        counts: dict[tuple[str, Action, Reason], int] = {}
        for (shape, field, action, reason), count in self._counts.items():
            pattern = format_path(shape, field, collapse=True)
            counts[(pattern, action, reason)] = counts.get((pattern, action, reason), 0) + count
        return [
            RedactionGroup(path, action, reason, count)
            for (path, action, reason), count in sorted(
                counts.items(), key=lambda item: (item[0][0], item[0][1].value, item[0][2].value)
            )
        ]

    def full(self) -> list[Redaction]:
        """Every concrete path, list indices in numeric order (needs keep_paths=True)."""
        return [
            Redaction(format_path(path, field), action, reason)
            for path, field, action, reason in sorted(self._paths or (), key=_natural)
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
