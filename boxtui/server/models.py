"""Imports every domain's models so ``Base.metadata`` is complete (alembic, tests)."""

from boxtui.server.auth.models import AuthSessionRow, IdentityRow, LoginCodeRow, LoginFailureRow
from boxtui.server.boxes.models import BoxRow, MembershipRow
from boxtui.server.db import Base
from boxtui.server.events.models import EventRow
from boxtui.server.files.models import EncryptedFileRow
from boxtui.server.idempotency.models import IdempotencyKeyRow
from boxtui.server.keys.models import BoxKeyShareRow, CryptoActionRow, SecretStorageRow
from boxtui.server.saved_files.models import SavedFileRow

__all__ = [
    "AuthSessionRow",
    "Base",
    "BoxKeyShareRow",
    "BoxRow",
    "CryptoActionRow",
    "EncryptedFileRow",
    "EventRow",
    "IdempotencyKeyRow",
    "IdentityRow",
    "LoginCodeRow",
    "LoginFailureRow",
    "MembershipRow",
    "SavedFileRow",
    "SecretStorageRow",
]
