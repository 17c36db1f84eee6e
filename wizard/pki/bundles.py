"""Many new clients at once: a key, a certificate and a PKCS#12 bundle per client, on every core."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wizard.pki import keys, pool
from wizard.pki.encode import cert_to_pem, key_to_pem, pkcs12_bundle
from wizard.pki.issue import issue_client
from wizard.pki.keys import PrivateKey
from wizard.pki.keytypes import KeyType


@dataclass(frozen=True)
class ClientRequest:
    name: str
    kind: KeyType
    lifetime_days: int
    password: bytes
    encryption: Literal["legacy", "aes256"] = "legacy"


@dataclass(frozen=True)
class IssuedClient:
    key_pem: bytes
    cert_pem: bytes
    p12: bytes


# Signing, PKCS#12 encryption and EC key generation cost a few milliseconds per client: a pool pays off only
# for a batch (its workers start in ~0.3 s each).
_BUNDLES_PER_POOL = 64


def _issue_one(ca_key: PrivateKey, ca_cert: x509.Certificate, now: datetime | None,
               request: ClientRequest) -> IssuedClient:
    key = keys.generate_key(request.kind)
    cert = issue_client(ca_key, ca_cert, key.public_key(), request.name, request.lifetime_days, now=now)
    return IssuedClient(key_to_pem(key), cert_to_pem(cert),
                        pkcs12_bundle(request.name, key, cert, ca_cert, request.password, request.encryption))


def _issue_chunk(ca_key_der: bytes, ca_cert_der: bytes, now: datetime | None,
                 requests: list[ClientRequest]) -> list[IssuedClient]:
    # Runs in a worker process: the CA travels as DER bytes (key objects cannot be pickled).
    ca_key = keys.load_der(ca_key_der)
    ca_cert = x509.load_der_x509_certificate(ca_cert_der)
    return [_issue_one(ca_key, ca_cert, now, request) for request in requests]


def _same(issued: IssuedClient) -> IssuedClient:
    return issued


def issue_client_bundles(ca_key: PrivateKey, ca_cert: x509.Certificate, requests: Sequence[ClientRequest],
                         now: datetime | None = None, progress: Callable[[int, int], None] | None = None,
                         workers: int | None = None) -> list[IssuedClient]:
    """A new key, certificate and PKCS#12 bundle per request (same order), split across the cores."""
    total = len(requests)
    wanted = min(workers if workers is not None else pool.available_cpus(), total // _BUNDLES_PER_POOL)
    remote = functools.partial(_issue_chunk, keys.to_der(ca_key), ca_cert.public_bytes(serialization.Encoding.DER),
                               now)
    return pool.run_chunks(
        requests, workers=wanted,
        # Small chunks keep the progress moving and both workers busy to the end.
        chunk_size=max(8, total // (max(wanted, 1) * 8)),
        remote=remote, accept=_same, local=functools.partial(_issue_one, ca_key, ca_cert, now),
        progress=progress, what="client bundle")
