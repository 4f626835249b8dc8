"""What sync tests share: the set-up object the fixtures build."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.testing import RunningSandbox
from lmsbridge.sync.engine import SyncEngine


@dataclass
class SyncSetup:
    sandbox: RunningSandbox
    db: Engine
    box: SecretBox
    integration_id: str
    engine: SyncEngine
