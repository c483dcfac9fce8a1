"""The typed per-request context every resolver receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directives.deadlines import RuleBook
from gateway.settings import Settings
from resolvers.loaders import Loaders
from resolvers.privacy import PrivacyScope
from resolvers.viewer import Viewer


@dataclass(eq=False)
class Context:
    settings: Settings
    viewer: Viewer
    sessions: async_sessionmaker[AsyncSession]
    loaders: Loaders
    privacy: PrivacyScope
    rules: RuleBook  # the deadline rules of every jurisdiction, loaded once per process
    clock: Callable[[], datetime]  # "now", aware UTC
    # Objects already built in this request, by (type, id): a seller on 300 orders is
    # projected once. Safe because nothing an object shows changes within a request.
    built: dict[tuple[type, int], Any] = field(default_factory=dict)
