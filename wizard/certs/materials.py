"""Key material for a plan: reuse what is on disk when it fits the answers, create what is missing.

Keys are never replaced: a key of the wrong type, or a CA that does not match the answers, is a
conflict the admin resolves (nothing is overwritten). Certificates are re-issued with the same key
when the answers changed what they must say (a new server name, a renamed DN) or they expired.

A client whose key, certificate and PKCS#12 are byte for byte what the ledger (``certs.ledger``) recorded
for the same inputs is reused without decrypting or validating anything: those two steps cost about 40 ms
each per client. Any other client, or every client with ``verify``, takes the full check.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import PurePosixPath
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from wizard.certs import ledger
from wizard.certs.ledger import Ledger
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import formats
from wizard.model.answers import Answers, Client
from wizard.model.secrets import SecretSource, generate_password
from wizard.pki import bundles, encode, issue, keys, names, reuse
from wizard.pki.keytypes import KeyType
from wizard.problems import MaterialConflict, Problem

Progress = Callable[[str, int, int], object]  # (stage, done, total); what it returns is ignored


@dataclass(frozen=True)
class KeyPair:
    key: keys.PrivateKey
    cert: x509.Certificate
    key_pem: bytes
    cert_pem: bytes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientPair:
    """A client's key as written and its certificate. The key object is not kept: a client's files are
    written as they are and only the key's type is needed later, so a reused client's key is never parsed."""

    key_type: KeyType
    cert: x509.Certificate
    key_pem: bytes
    cert_pem: bytes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientBundle:
    name: str
    pair: ClientPair
    p12: bytes
    p12_password: bytes
    password_generated: bool
    revoked: bool = False  # its certificate's serial is in answers.revoked (kept as is, never re-issued silently)


@dataclass(frozen=True)
class Materials:
    ca: KeyPair
    host: KeyPair
    clients: tuple[ClientBundle, ...]
    notes: tuple[str, ...] = field(default=())
    peers: tuple[tuple[str, KeyPair], ...] = ()  # transport-mode peers that authenticate with certificates
    ledger: Ledger = field(default_factory=Ledger)  # as loaded: its salt is kept, its records are rewritten
    reused: int = 0  # clients reused unopened on the ledger's word


def ledger_action(answers: Answers, m: Materials, scope: Collection[str] | None = None) -> ledger.FileAction:
    """The ledger for exactly the bundles this plan writes, in the same apply as their files; with a
    ``scope``, the records of the answers' other clients are kept as they are."""
    by_name = {c.name: c for c in answers.clients}
    kept = [] if scope is None else [name for name in by_name if name not in scope]
    return ledger.action(ledger.records_for(m.ledger, (
        (_inputs(m.ca.cert_pem, by_name[b.name], b.p12_password),
         {"key": b.pair.key_pem, "cert": b.pair.cert_pem, "p12": b.p12}, b.pair.cert.serial_number,
         b.pair.cert.not_valid_before_utc, b.pair.cert.not_valid_after_utc)
        for b in m.clients), kept))


def _inputs(ca_cert_pem: bytes, client: Client, password: bytes) -> ledger.Inputs:
    return ledger.Inputs(ca_cert_pem, client.name, client.key.value, client.lifetime_days, client.p12_encryption,
                         password)


def host_key_locations(layout: str) -> list[PurePosixPath]:
    """Where the host key may already be: the current layout's place first (a layout switch keeps the key)."""
    swanctl = paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME
    ipsec = paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME
    return [swanctl, ipsec] if layout == "swanctl" else [ipsec, swanctl]


def host_cert_locations(layout: str) -> list[PurePosixPath]:
    swanctl = paths.SWANCTL_X509 / paths.HOST_CERT_NAME
    ipsec = paths.IPSEC_CERTS / paths.HOST_CERT_NAME
    return [swanctl, ipsec] if layout == "swanctl" else [ipsec, swanctl]


def peer_files(name: str) -> dict[str, PurePosixPath]:
    base = paths.PEERS_DIR / name
    return {"key": base / "key.pem", "cert": base / "cert.pem", "ca": base / "ca.pem"}


@cache
def client_files(name: str) -> Mapping[str, PurePosixPath]:
    # Remembered: a plan asks five times per client, and building paths costs more than the rest of a lookup.
    base = paths.client_dir(name)
    return MappingProxyType({"key": base / "key.pem", "cert": base / "cert.pem", "ca": base / "ca.pem",
                             "p12": base / f"{name}.p12", "password": base / "p12-password"})


def _bytes(root: Root, logical: PurePosixPath) -> bytes | None:
    return root.read_bytes(logical)


def _read(root: Root, candidates: list[PurePosixPath]) -> tuple[PurePosixPath, bytes] | None:
    for logical in candidates:
        data = root.read_bytes(logical)
        if data is not None:
            return logical, data
    return None


def _load_key(data: bytes, where: PurePosixPath, passphrase: bytes | None = None) -> keys.PrivateKey:
    try:
        return encode.load_key_pem(data, passphrase)
    except (ValueError, TypeError) as exc:
        raise MaterialConflict([Problem(f"cannot load the key in {where}: {exc}")]) from None


def _load_cert(data: bytes, where: PurePosixPath) -> x509.Certificate | None:
    try:
        return encode.load_cert_pem(data)
    except ValueError:
        return None


class _KeyPool:
    """Collects the keys to create so they are generated together, on every core."""

    def __init__(self) -> None:
        self.kinds: list[KeyType] = []

    def want(self, kind: KeyType) -> int:
        self.kinds.append(kind)
        return len(self.kinds) - 1


def build(answers: Answers, root: Root, source: SecretSource, progress: Progress | None = None,
          now: datetime | None = None, renew: Collection[str] = (),
          new_passwords: Collection[str] = (), verify: bool = False, scope: Collection[str] | None = None,
          book: Ledger | None = None) -> Materials:
    """``renew``: clients that get a new certificate for their existing key even though theirs still fits;
    ``new_passwords``: clients whose generated PKCS#12 password is replaced (``swan-wizard client ...``);
    ``verify``: every client's files are opened and checked, whatever the ledger says;
    ``scope``: only these clients get bundles (a client command), None: every client of the answers;
    ``book``: the ledger, when the caller loaded it already."""
    now = now or datetime.now(UTC)
    book = book if book is not None else ledger.load(root)
    notes: list[str] = [book.note] if book.note else []
    revoked = frozenset(int(r.serial, 16) for r in answers.revoked)
    conflicts: list[Problem] = []
    ca_passphrase = source.resolve(answers.ca.passphrase, "ca.passphrase")

    # 1. Find what exists and what must be created.
    existing_ca_key = _read(root, [paths.CA_KEY])
    existing_ca_cert = _read(root, [paths.CA_CERT])
    if existing_ca_cert and not existing_ca_key:
        raise MaterialConflict([Problem(f"{paths.CA_CERT} exists but {paths.CA_KEY} is missing; restore the key "
                                        "from a backup (the CA is never regenerated over existing material)", "ca")])
    ca_dn = names.parse_dn(answers.ca.dn)
    pool = _KeyPool()
    ca_key = None
    if existing_ca_key and not existing_ca_cert:
        # The key without its certificate (an apply interrupted between the two, or a deleted ca.pem):
        # a certificate re-issued from the same key and DN verifies every certificate the CA signed.
        ca_key = _load_key(existing_ca_key[1], paths.CA_KEY, ca_passphrase)
        reissued = issue.issue_ca(ca_key, ca_dn, answers.ca.lifetime_days, now=now)
        existing_ca_cert = (paths.CA_CERT, encode.cert_to_pem(reissued))
    if existing_ca_key and existing_ca_cert:
        ca_key = _load_key(existing_ca_key[1], paths.CA_KEY, ca_passphrase)
        ca_cert = _load_cert(existing_ca_cert[1], paths.CA_CERT)
        if ca_cert is None:
            raise MaterialConflict([Problem(f"{paths.CA_CERT} is not a PEM certificate", "ca")])
        problems = reuse.ca_cert_problems(ca_cert, ca_key, ca_dn)
        if keys.key_type_of(ca_key) != answers.ca.key:
            problems.append(f"the CA key is {keys.key_type_of(ca_key).value}, the answers ask for "
                            f"{answers.ca.key.value}")
        conflicts += [Problem(f"existing CA ({paths.CA_CERT}) does not match: {p}", "ca") for p in problems]
        ca_index = None
    else:
        ca_index = pool.want(answers.ca.key)

    host_key_found = _read(root, host_key_locations(answers.layout))
    host_key = None
    if host_key_found:
        host_key = _load_key(host_key_found[1], host_key_found[0])
        if keys.key_type_of(host_key) != answers.host.key:
            conflicts.append(Problem(
                f"{host_key_found[0]} holds a {keys.key_type_of(host_key).value} key, the answers ask for "
                f"{answers.host.key.value}; change the answer or move the key away to create a new one",
                "host.key"))
        host_index = None
    else:
        host_index = pool.want(answers.host.key)

    client_keys: dict[str, keys.PrivateKey] = {}  # clients with a key on disk; the others are issued in bulk
    trusted: dict[str, ClientBundle] = {}
    planned = [(i, c) for i, c in enumerate(answers.clients) if scope is None or c.name in scope]
    for i, client in planned:
        files = client_files(client.name)
        found = _read(root, [files["key"]])
        if found and existing_ca_cert and not verify and client.name not in renew and client.name not in new_passwords:
            bundle = _trusted_bundle(book, client, i, root, source, existing_ca_cert[1], found[1], revoked, now)
            if bundle is not None:
                trusted[client.name] = bundle
                continue
        if found:
            key = _load_key(found[1], files["key"])
            if keys.key_type_of(key) != client.key:
                conflicts.append(Problem(
                    f"{files['key']} holds a {keys.key_type_of(key).value} key, the answers ask for "
                    f"{client.key.value}", f"clients[{i}].key"))
            client_keys[client.name] = key

    cert_peers = [p for p in answers.variants.transport.peers if p.auth == "cert"] if answers.variants.transport else []
    peer_keys: dict[str, keys.PrivateKey | int] = {}
    for peer in cert_peers:
        found = _read(root, [peer_files(peer.name)["key"]])
        peer_keys[peer.name] = (_load_key(found[1], peer_files(peer.name)["key"]) if found
                                else pool.want(answers.host.key))

    if conflicts:
        raise MaterialConflict(conflicts)

    # 2. Generate every missing key at once (RSA-4096 is slow: use both cores, report progress).
    def key_progress(done: int, total: int) -> None:
        if progress:
            progress("keys", done, total)

    new_keys = keys.generate_keys(pool.kinds, progress=key_progress) if pool.kinds else []

    # 3. The CA.
    if ca_index is not None:
        ca_key = new_keys[ca_index]
        ca_cert = issue.issue_ca(ca_key, ca_dn, answers.ca.lifetime_days, now=now)
        ca = KeyPair(ca_key, ca_cert, encode.key_to_pem(ca_key, ca_passphrase), encode.cert_to_pem(ca_cert),
                     ("new CA key and certificate",))
    else:
        assert existing_ca_key and existing_ca_cert and ca_key is not None
        ca = KeyPair(ca_key, encode.load_cert_pem(existing_ca_cert[1]), existing_ca_key[1], existing_ca_cert[1])

    # 4. The host certificate.
    if host_index is not None:
        host_key = new_keys[host_index]
    assert host_key is not None
    host = _host_pair(answers, root, ca, host_key, host_index is not None, now)

    # 5. Clients.
    client_bundles = []
    fresh = _new_client_bundles(answers, root, ca, source, now, [c for _, c in planned if c.name not in
                                                                  client_keys and c.name not in trusted], progress)
    for i, client in planned:
        made = fresh.get(client.name) or trusted.get(client.name)
        if made is not None:
            client_bundles.append(made)
            continue
        client_bundles.append(_client_bundle(client, i, root, ca, client_keys[client.name], source, now,
                                      renew=client.name in renew, new_password=client.name in new_passwords,
                                      revoked=revoked))
    if progress:
        progress("certificates", 1, 1)
    peers = []
    for peer in cert_peers:
        entry = peer_keys[peer.name]
        key = new_keys[entry] if isinstance(entry, int) else entry
        peers.append((peer.name, _peer_pair(peer.name, peer.id or peer.address, root, ca, key,
                                            isinstance(entry, int), answers.host.lifetime_days, now)))
    return Materials(ca, host, tuple(client_bundles), tuple(notes), tuple(peers), book, len(trusted))


def _trusted_bundle(book: Ledger, client: Client, index: int, root: Root, source: SecretSource, ca_cert_pem: bytes,
                    key_pem: bytes, revoked: frozenset[int], now: datetime) -> ClientBundle | None:
    """The client's bundle as it is on disk, when the ledger vouches for these very files; else None."""
    files = client_files(client.name)
    contents = {"key": key_pem, "cert": _bytes(root, files["cert"]), "p12": _bytes(root, files["p12"])}
    password, generated = _p12_password(client, index, root, source)
    if not book.trusts(_inputs(ca_cert_pem, client, password), contents, now):
        return None
    cert_pem, p12 = contents["cert"], contents["p12"]
    assert cert_pem is not None and p12 is not None  # trusts() compared both with their digests
    cert = _load_cert(cert_pem, files["cert"])
    if cert is None:
        return None
    pair = ClientPair(client.key, cert, key_pem, cert_pem)
    return ClientBundle(client.name, pair, p12, password, generated, cert.serial_number in revoked)


def _peer_pair(name: str, identity: str, root: Root, ca: KeyPair, key: keys.PrivateKey, new_key: bool,
               lifetime_days: int, now: datetime) -> KeyPair:
    """A transport-mode peer's certificate: like the host's, naming the peer's identity."""
    files = peer_files(name)
    key_pem = encode.key_to_pem(key) if new_key else root(files["key"]).read_bytes()
    if not new_key and root(files["cert"]).is_file():
        cert = _load_cert(root(files["cert"]).read_bytes(), files["cert"])
        if cert is not None and not reuse.host_cert_problems(cert, ca.cert, key, identity, [], now=now):
            return KeyPair(key, cert, key_pem, root(files["cert"]).read_bytes())
    cert = issue.issue_host(ca.key, ca.cert, key.public_key(), identity, [], lifetime_days, now=now)
    return KeyPair(key, cert, key_pem, encode.cert_to_pem(cert), (f"new certificate for transport peer {name}",))


def _host_pair(answers: Answers, root: Root, ca: KeyPair, key: keys.PrivateKey, new_key: bool,
               now: datetime) -> KeyPair:
    address, alt = answers.server.address, answers.server.alt_names
    key_pem = encode.key_to_pem(key)
    if not new_key:
        found_key = _read(root, host_key_locations(answers.layout))
        key_pem = found_key[1] if found_key else key_pem
        found = _read(root, host_cert_locations(answers.layout))
        cert = _load_cert(found[1], found[0]) if found else None
        if found is not None and cert is not None:
            problems = reuse.host_cert_problems(cert, ca.cert, key, address, alt, now=now)
            if not problems:
                return KeyPair(key, cert, key_pem, found[1])
            reason = "; ".join(problems)
            cert = issue.issue_host(ca.key, ca.cert, key.public_key(), address, alt,
                                  answers.host.lifetime_days, now=now)
            return KeyPair(key, cert, key_pem, encode.cert_to_pem(cert),
                           (f"host certificate re-issued with the same key: {reason}",))
    cert = issue.issue_host(ca.key, ca.cert, key.public_key(), address, alt, answers.host.lifetime_days, now=now)
    return KeyPair(key, cert, key_pem, encode.cert_to_pem(cert),
                   ("new host key and certificate",) if new_key else ("new host certificate",))


def _p12_password(client: Client, index: int, root: Root, source: SecretSource,
                  new_password: bool = False) -> tuple[bytes, bool]:
    """The bundle's password and whether it is generated (then kept 0600 beside the bundle)."""
    where = f"clients[{index}].p12_password"
    password = source.resolve(client.p12_password, where)
    if password is not None:
        # The password is typed on the client and written into its profiles (plist, PowerShell, JSON):
        # refused before any key is made if one of them cannot hold it.
        formats.secret_text(password, where)
        return password, False
    stored = None if new_password else root.read_bytes(client_files(client.name)["password"])
    password = stored.strip() if stored else b""
    return (password or generate_password().encode()), True


def _new_client_bundles(answers: Answers, root: Root, ca: KeyPair, source: SecretSource, now: datetime,
                        clients: list[Client], progress: Progress | None) -> dict[str, ClientBundle]:
    """Clients without a key yet: key, certificate and PKCS#12 made together, on every core."""
    index = {c.name: i for i, c in enumerate(answers.clients)}
    passwords = {c.name: _p12_password(c, index[c.name], root, source) for c in clients}
    requests = [bundles.ClientRequest(c.name, c.key, c.lifetime_days, passwords[c.name][0], c.p12_encryption)
                for c in clients]

    def bundle_progress(done: int, total: int) -> None:
        if progress:
            progress("clients", done, total)

    issued = bundles.issue_client_bundles(ca.key, ca.cert, requests, now=now, progress=bundle_progress)
    out = {}
    for client, made in zip(clients, issued, strict=True):
        pair = ClientPair(client.key, encode.load_cert_pem(made.cert_pem), made.key_pem, made.cert_pem)
        password, generated = passwords[client.name]
        out[client.name] = ClientBundle(client.name, pair, made.p12, password, generated)
    return out


def _client_bundle(client: Client, index: int, root: Root, ca: KeyPair, key: keys.PrivateKey,
                   source: SecretSource, now: datetime, renew: bool = False, new_password: bool = False,
                   revoked: frozenset[int] = frozenset()) -> ClientBundle:
    """A client whose key is on disk: its certificate and bundle reused where they still fit."""
    files = client_files(client.name)
    key_pem = root(files["key"]).read_bytes()
    cert = None
    is_revoked = False
    notes: list[str] = []
    if root(files["cert"]).is_file():
        cert = _load_cert(root(files["cert"]).read_bytes(), files["cert"])
        if cert is not None and renew:
            notes.append(f"client certificate for {client.name} renewed with the same key")
            cert = None
        elif cert is not None and cert.serial_number in revoked:
            # Kept as it is, even expired: only `client renew` gives a revoked client a valid certificate.
            is_revoked = True
        elif cert is not None:
            problems = reuse.client_cert_problems(cert, ca.cert, key, client.name, now=now)
            if problems:
                notes.append(f"client certificate for {client.name} re-issued: {'; '.join(problems)}")
                cert = None
    if cert is None:
        cert = issue.issue_client(ca.key, ca.cert, key.public_key(), client.name, client.lifetime_days, now=now)
        cert_pem = encode.cert_to_pem(cert)
    else:
        cert_pem = root(files["cert"]).read_bytes()
    pair = ClientPair(keys.key_type_of(key), cert, key_pem, cert_pem, tuple(notes))

    password, generated = _p12_password(client, index, root, source, new_password)
    p12 = _reuse_p12(root, files["p12"], password, key, cert, ca.cert)
    if p12 is None:
        p12 = encode.pkcs12_bundle(client.name, key, cert, ca.cert, password, client.p12_encryption)
    return ClientBundle(client.name, pair, p12, password, generated, is_revoked)


def _reuse_p12(root: Root, logical: PurePosixPath, password: bytes, key: keys.PrivateKey, cert: x509.Certificate,
               ca_cert: x509.Certificate) -> bytes | None:
    """The existing bundle's bytes if it opens with ``password`` and holds exactly this key and chain.

    PKCS#12 files carry a random salt, so a fresh bundle always differs: reusing keeps re-runs silent.
    """
    real = root(logical)
    if not real.is_file():
        return None
    data = real.read_bytes()
    try:
        loaded = pkcs12.load_pkcs12(data, password)
    except (ValueError, TypeError):
        return None
    if loaded.key is None or loaded.cert is None:
        return None
    same = (keys.public_keys_equal(loaded.key.public_key(), key.public_key())
            and loaded.cert.certificate == cert
            and [c.certificate for c in loaded.additional_certs] == [ca_cert])
    return data if same else None
