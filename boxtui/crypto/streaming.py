"""The PROTOCOL §8 file format, written piece by piece (bounded memory).

A file blob is one ``secretbox`` (XSalsa20-Poly1305) over the whole file:
``tag (16 bytes) || ciphertext``. :func:`boxtui.crypto.encrypt_file` needs the whole
file in memory; :class:`FileEncryptor` produces the very same bytes from pieces:
``update(piece)`` returns the ciphertext of that piece, ``finalize()`` the tag that
goes in front (write a 16-byte placeholder first, then seek back).

secretbox is XSalsa20 with the first 32 keystream bytes as the Poly1305 key and the
message encrypted from keystream byte 32 on, then Poly1305 over the ciphertext.
pynacl exposes only the one-shot form, so this calls the same libsodium that pynacl
ships (``crypto_stream_xsalsa20_xor_ic`` and ``crypto_onetimeauth_poly1305_*``, both
exported by its ``_sodium`` module) through ctypes, falling back to a system libsodium.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from .files import FileKey

TAG_SIZE = 16
_BLOCK = 64
_POLY_STATE_BYTES = 256  # crypto_onetimeauth_poly1305_state, 16-byte aligned


@functools.cache
def _sodium() -> ctypes.CDLL:
    candidates = []
    try:
        import nacl._sodium as bundled

        candidates.append(bundled.__file__)
    except ImportError:  # pragma: no cover
        pass
    if system := ctypes.util.find_library("sodium"):
        candidates.append(system)
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.crypto_stream_xsalsa20_xor_ic  # noqa: B018 - probe the symbols
            lib.crypto_onetimeauth_poly1305_init  # noqa: B018
        except (OSError, AttributeError):
            continue
        lib.crypto_stream_xsalsa20_xor_ic.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_char_p,
        ]  # fmt: skip
        lib.crypto_onetimeauth_poly1305_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.crypto_onetimeauth_poly1305_update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulonglong]
        lib.crypto_onetimeauth_poly1305_final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        return lib
    raise RuntimeError("no libsodium with crypto_stream_xsalsa20_xor_ic found (pynacl's or the system's)")


class FileEncryptor:
    """``tag || ciphertext`` of ``secretbox(file, key.nonce, key.key)``, piece by piece."""

    def __init__(self, key: FileKey):
        self._lib = _sodium()
        self._key = bytes(key.key)
        self._nonce = bytes(key.nonce)
        self._position = 32  # keystream bytes 0..31 are the Poly1305 key
        self.size = 0
        self._state_buffer = ctypes.create_string_buffer(_POLY_STATE_BYTES + 16)
        address = ctypes.addressof(self._state_buffer)
        self._state = address + (-address % 16)
        poly_key = self._keystream_xor(bytes(32), 0)
        if self._lib.crypto_onetimeauth_poly1305_init(self._state, poly_key) != 0:  # pragma: no cover
            raise RuntimeError("crypto_onetimeauth_poly1305_init failed")
        self._finished = False

    def _keystream_xor(self, data: bytes, position: int) -> bytes:
        """``data`` XOR the XSalsa20 keystream from byte ``position`` on."""
        skip = position % _BLOCK
        padded = bytes(skip) + data if skip else data
        out = ctypes.create_string_buffer(len(padded))
        self._lib.crypto_stream_xsalsa20_xor_ic(out, padded, len(padded), self._nonce, position // _BLOCK, self._key)
        return out.raw[skip:]

    def update(self, piece: bytes) -> bytes:
        """The ciphertext of ``piece`` (the file's next bytes)."""
        if self._finished:
            raise RuntimeError("the encryptor is finalized")
        if not piece:
            return b""
        ciphertext = self._keystream_xor(bytes(piece), self._position)
        self._position += len(piece)
        self.size += len(piece)
        self._lib.crypto_onetimeauth_poly1305_update(self._state, ciphertext, len(ciphertext))
        return ciphertext

    def finalize(self) -> bytes:
        """The 16-byte tag that goes in front of the ciphertext."""
        if self._finished:
            raise RuntimeError("the encryptor is finalized")
        self._finished = True
        tag = ctypes.create_string_buffer(TAG_SIZE)
        self._lib.crypto_onetimeauth_poly1305_final(self._state, tag)
        return tag.raw
