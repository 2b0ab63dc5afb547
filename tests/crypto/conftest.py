"""Shared fixtures of the crypto tests."""

import pytest
from nacl.pwhash import argon2id

from boxtui.crypto import BoxKeyPair, generate_box_keypair

# The cheapest Argon2id libsodium allows: the suite stays fast.
FAST_KDF = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}


@pytest.fixture
def fast_kdf() -> dict[str, int]:
    return dict(FAST_KDF)


@pytest.fixture
def box() -> BoxKeyPair:
    return generate_box_keypair()
