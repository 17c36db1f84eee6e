"""The NT hash that EAP-MSCHAPv2 secrets are stored as (real charons use it: test_variants_all.py)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from wizard.pki.ntlm import md4, nt_hash

# RFC 1320, appendix A.5
RFC1320 = [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
]


@pytest.mark.parametrize(("data", "digest"), RFC1320)
def test_md4_matches_rfc1320(data: bytes, digest: str) -> None:
    assert md4(data).hex() == digest


def test_nt_hash_known_values() -> None:
    # the classic "password" NT hash, and RFC 2759's example password "clientPass"
    assert nt_hash("password").hex() == "8846f7eaee8fb117ad06bdd830b7586c"
    assert nt_hash("clientPass").hex() == "44ebba8d5312b8d611474411f56989ae"
    assert nt_hash(b"password") == nt_hash("password")


def _openssl_md4(data: bytes) -> bytes | None:
    """MD4 from OpenSSL's legacy provider (what charon itself uses), or None where it is missing."""
    if shutil.which("openssl") is None:
        return None
    proc = subprocess.run(["openssl", "dgst", "-md4", "-binary", "-provider", "legacy", "-provider", "default"],
                          input=data, capture_output=True, timeout=10)
    return proc.stdout if proc.returncode == 0 and len(proc.stdout) == 16 else None


def test_nt_hash_is_md4_of_utf16le_for_any_text() -> None:
    for password in ("Grüezi-Äpfel", "пароль", "密码🙂", "x" * 300):
        encoded = password.encode("utf-16-le")
        assert nt_hash(password) == md4(encoded)
        reference = _openssl_md4(encoded)
        if reference is not None:
            assert nt_hash(password) == reference


def test_lengths_around_the_md4_block_boundaries() -> None:
    if _openssl_md4(b"") is None:
        pytest.skip("no openssl with the legacy provider to compare with")
    for n in (55, 56, 57, 63, 64, 65, 119, 120, 128, 200):
        data = bytes(range(256))[:n]
        assert md4(data) == _openssl_md4(data), n
