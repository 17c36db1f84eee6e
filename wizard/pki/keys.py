"""Private keys: generating them (on every core when that pays off), their type, and comparing them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, get_args, overload

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from wizard.pki import pool
from wizard.pki.keytypes import KeyType

if TYPE_CHECKING:
    from typing_extensions import TypeIs

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
AnyKey = PrivateKey | PublicKey
# A key read back from a certificate or a file may be of any kind; the checks name the ones the wizard refuses.
ReadKey = PrivateKeyTypes | PublicKeyTypes

RSA_PUBLIC_EXPONENT = 65537

_CURVES: dict[KeyType, type[ec.EllipticCurve]] = {
    KeyType.ECDSA_P256: ec.SECP256R1,
    KeyType.ECDSA_P384: ec.SECP384R1,
}


def generate_key(kind: KeyType) -> PrivateKey:
    kind = KeyType(kind)
    if kind.is_rsa:
        return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=kind.rsa_bits)
    if kind.is_ecdsa:
        return ec.generate_private_key(_CURVES[kind]())
    return ed25519.Ed25519PrivateKey.generate()


@overload
def public_of(key: AnyKey) -> PublicKey: ...
@overload
def public_of(key: ReadKey) -> PublicKeyTypes: ...
def public_of(key: ReadKey) -> PublicKeyTypes:
    """The public half of a private key; a public key as it is."""
    # Any private key kind (a DSA key found on the server too), not only the ones the wizard makes.
    return key if _is_public(key) else key.public_key()


def _is_public(key: ReadKey) -> TypeIs[PublicKeyTypes]:
    return isinstance(key, get_args(PublicKeyTypes))


def key_type_of(key: ReadKey) -> KeyType:
    """The KeyType of a private or public key; ValueError for keys the wizard does not support."""
    public = public_of(key)
    if isinstance(public, rsa.RSAPublicKey):
        try:
            return KeyType(f"rsa-{public.key_size}")
        except ValueError:
            raise ValueError(f"unsupported RSA key size {public.key_size} bits") from None
    if isinstance(public, ec.EllipticCurvePublicKey):
        for kind, curve in _CURVES.items():
            if isinstance(public.curve, curve):
                return kind
        raise ValueError(f"unsupported elliptic curve {public.curve.name}")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    raise ValueError(f"unsupported key type {type(key).__name__}")


def signature_hash(ca_key: AnyKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest a CA key signs with; Ed25519 signs the message itself (None)."""
    kind = key_type_of(ca_key)
    if kind is KeyType.ED25519:
        return None
    if kind is KeyType.ECDSA_P384:
        return hashes.SHA384()
    return hashes.SHA256()


def _spki(key: ReadKey) -> bytes:
    return public_of(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_keys_equal(a: ReadKey, b: ReadKey) -> bool:
    """Whether two keys (private or public) have the same public key, by SubjectPublicKeyInfo DER."""
    return _spki(a) == _spki(b)


def to_der(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER: how a key crosses to or from a worker process (key objects do not pickle)."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_der(data: bytes) -> PrivateKey:
    """A key that to_der wrote a moment ago, in a worker process of this run."""
    # Our own fresh keys: re-checking each RSA key here (~35 ms, about as long as generating it) would
    # undo the parallel speed-up.
    key = serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, PrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


# Rough relative cost of generating one key (RSA-2048 = 1, about 80 ms); EC and Ed25519 keys take microseconds.
_KEY_COST: dict[KeyType, int] = {KeyType.RSA_2048: 1, KeyType.RSA_3072: 4, KeyType.RSA_4096: 9}
# Starting the forkserver and letting each worker import cryptography costs about this much, in the same unit.
_POOL_OVERHEAD = 3


def pool_workers(kinds: Sequence[KeyType], workers: int | None = None) -> int:
    """How many worker processes generate_keys would start for `kinds` (0 = it works in-process).

    A pool is used only when the time it saves beats its start-up cost: the slowest key bounds the
    parallel run, so one RSA-4096 key with a few cheap ones stays in-process.
    """
    costs = [_KEY_COST.get(KeyType(kind), 0) for kind in kinds]
    expensive = [cost for cost in costs if cost > 0]
    wanted = min(workers if workers is not None else pool.available_cpus(), len(expensive))
    if wanted < 2:
        return 0
    total = sum(expensive)
    parallel = max(total / wanted, max(expensive))
    return wanted if total - parallel >= _POOL_OVERHEAD else 0


def _generate_chunk(kinds: list[KeyType]) -> list[bytes]:
    # Runs in a worker process.
    return [to_der(generate_key(kind)) for kind in kinds]


def generate_keys(
    kinds: Sequence[KeyType],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[PrivateKey]:
    """Generate one key per entry of `kinds` (same order), on every core when that pays off.

    progress(done, total) is called in the caller's thread after each key. Should the workers fail, the
    remaining keys are made in-process (see wizard.pki.pool.run_chunks).
    """
    kinds = [KeyType(kind) for kind in kinds]
    # Looked up at each call, so that a test or benchmark may replace them.
    return pool.run_chunks(kinds, workers=pool_workers(kinds, workers), chunk_size=1, remote=_generate_chunk,
                           accept=load_der, local=generate_key, progress=progress, what="key generation")
