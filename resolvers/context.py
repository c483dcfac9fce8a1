"""The typed per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
