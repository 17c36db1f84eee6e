"""Hostile strings in every free-text field and every secret, through the loader, the planner and each renderer.

Each property: a value is either refused with a field-named InvalidAnswers (never another exception), or
every file it reaches parses back, with the reader of that format, to exactly the value the answers hold.
The budget is the "swan-wizard" hypothesis profile of conftest.py (fixed and derandomized; run longer with
SWAN_WIZARD_FUZZ_EXAMPLES=N, see the README).
"""

from __future__ import annotations

import copy
import json
import plistlib
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import parseback
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import event, given
from hypothesis import strategies as st

from wizard import problems
from wizard.fs import paths
from wizard.fs.changes import Plan
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource
from wizard.pki.ntlm import nt_hash
from wizard.plan.planner import build_plan
from wizard.problems import InvalidAnswers, WizardError
from wizard.render.connections import ike_identity

# Characters that mean something in one of the formats, or that no format can hold.
SPECIALS = ('"\'\\\n\r\t\x00\x0b\x0c\x1b\x7f\x85\xa0\u2028\u2029\u202e\u200b\ufeff%:#;,={}[]@$`&<> '
            "\u2018\u2019\u201a\u201b/.-_+*!")
FRAGMENTS = (" : ", ' : PSK "x"', "%any", "\n", "\r\n", "#", "0x", "0s", "fe80::1%", "vpn.example.com",
             "198.18.0.9", "C=CH, CN=", "'", '"', "\\", "\\n", "$(calc)", "'@", "]]>", "</string>",
             "include /etc/passwd", "\u2019; Start-Process calc; \u2019", "eth0", "10.0.0.0/8", "::/0", "}", "{",
             "=", "a", "x@y", "\\s", "[vpn]", "\x00", "\u2028", "-j ACCEPT", "\t")


def hostile(min_size: int = 0) -> st.SearchStrategy[str]:
    chars = st.sampled_from(SPECIALS) | st.characters(codec="utf-8")
    # The last kind looks almost valid, so that values get past the model and reach the files.
    plausible = st.from_regex(r"[A-Za-z0-9.:@%_ ,=/'\"\\-]{1,24}", fullmatch=True)
    return (st.text(chars, min_size=min_size, max_size=24) | plausible
            | st.lists(st.sampled_from(FRAGMENTS) | st.text("abcXYZ019.", max_size=4),
                       min_size=max(min_size, 1), max_size=6).map("".join).filter(lambda t: len(t) >= min_size))


ENV = {"P12": "p12-password", "EAP": "eap-password", "XPSK": "xauth-group-psk", "XAUTH": "xauth-password",
       "TPSK": "transport-psk", "L2TP": "l2tp-password"}


def base_doc(layout: str, firewall: str = "nftables") -> dict[str, Any]:
    """Every variant at once (IKEv1 PSK with XAUTH, L2TP with certificates: both may not use a PSK)."""
    return {
        "version": 1, "layout": layout,
        "server": {"address": "vpn.example.com", "alt_names": ["198.18.0.1"]},
        "ca": {"key": "ecdsa-p256", "dn": "C=CH, O=Example, CN=Example CA"}, "host": {"key": "ecdsa-p256"},
        "clients": [{"name": "carol", "key": "ecdsa-p256", "p12_password": {"env": "P12"}}],
        "variants": {
            "ikev2-cert": {"local_ts": ["0.0.0.0/0"]},
            "ikev2-eap": {"users": [{"name": "dave", "password": {"env": "EAP"}}]},
            "ikev1-xauth": {"auth": "psk", "psk": {"env": "XPSK"}, "local_ts": ["0.0.0.0/0"],
                            "users": [{"name": "xena", "password": {"env": "XAUTH"}}]},
            "transport": {"peers": [{"name": "p1", "address": "198.18.0.2", "auth": "psk", "psk": {"env": "TPSK"},
                                     "id": "peer.example.com"}]},
            "l2tp": {"auth": "cert", "users": [{"name": "erin", "password": {"env": "L2TP"}}]},
        },
        "pool": {"addresses": "10.10.10.0/24", "dns": ["198.18.0.53"]},
        "dpd": {"delay": "300s"}, "logging": "ike 2, cfg 1",
        "networking": {"wan_interface": "eth0", "firewall": firewall},
    }


Path_ = tuple[str | int, ...]
FIELDS: tuple[Path_, ...] = (
    ("server", "address"), ("server", "alt_names", 0), ("ca", "dn"), ("clients", 0, "name"),
    ("variants", "ikev2-eap", "users", 0, "name"), ("variants", "ikev1-xauth", "users", 0, "name"),
    ("variants", "l2tp", "users", 0, "name"), ("variants", "transport", "peers", 0, "name"),
    ("variants", "transport", "peers", 0, "address"), ("variants", "transport", "peers", 0, "id"),
    ("pool", "addresses"), ("pool", "dns", 0), ("variants", "ikev2-cert", "local_ts", 0),
    ("variants", "ikev1-xauth", "local_ts", 0), ("networking", "wan_interface"), ("pool", "dhcp", "interface"),
    ("dpd", "delay"), ("logging",), ("variants", "l2tp", "ip_range"), ("variants", "l2tp", "local_ip"),
    ("clients", 0, "p12_password", "env"), ("proposals", "ike", 0),
)


def put(doc: dict[str, Any], where: Path_, value: Any) -> None:
    if where[:2] == ("pool", "dhcp"):
        doc["pool"] = {"addresses": "dhcp", "dhcp": {}}
    if where[0] == "proposals":
        doc["proposals"] = {"ike": ["aes256-sha256-modp2048"], "esp": ["aes256-sha256"]}
    node: Any = doc
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value


def named(exc: WizardError) -> bool:
    """Each problem on one line, naming its field (or, for a file that is no YAML at all, the file)."""
    return bool(exc.problems) and all((p.field or p.source) and "\n" not in p.message for p in exc.problems)


def plan_of(answers: Answers, environ: dict[str, str]) -> Plan:
    with tempfile.TemporaryDirectory() as root:
        return build_plan(answers, Root(Path(root)), SecretSource(Path(root), environ))


def text_files(plan: Plan) -> dict[PurePosixPath, str]:
    binary = (".p12", ".der", ".crl")
    return {f.path: f.content.decode("utf-8") for f in plan.files
            if f.content is not None and not f.path.name.endswith(binary)}


def client_file(plan: Plan, name: str, suffix: str) -> bytes:
    return next(f.content for f in plan.files if f.path.parent == paths.client_dir(name)
                and f.path.name.endswith(suffix) and f.content is not None)


def check_well_formed(plan: Plan, answers: Answers) -> dict[str, Any]:
    """Every text file holds no smuggled control character and parses with its format's reader."""
    parsed: dict[str, Any] = {}
    for path, text in text_files(plan).items():
        body = text.removeprefix("\ufeff") if path.suffix == ".ps1" else text
        bad = problems.unsafe_char(body.replace("\n", "").replace("\t", "").replace("\r", ""))
        assert bad is None, f"{path}: {problems.char_name(bad)}"
        name = path.name
        if path == paths.SWANCTL_CONF or name.endswith(".swanctl.conf") or path == paths.STRONGSWAN_SETTINGS:
            parsed[str(path)] = parseback.settings(text)
        elif path == paths.IPSEC_CONF:
            parsed[str(path)] = parseback.ipsec_conf(text)
        elif path == paths.IPSEC_SECRETS:
            parsed[str(path)] = parseback.stroke_secrets(text)
        elif name.endswith(".mobileconfig"):
            parsed[str(path)] = plistlib.loads(text.encode())
        elif name.endswith(".sswan"):
            parsed[str(path)] = json.loads(text)
        elif name.endswith(".nmconnection"):
            parsed[str(path)] = parseback.keyfile(text)
        elif name.endswith(".ps1"):
            parsed[str(path)] = parseback.powershell_assignments(text)
        elif path == paths.PPP_CHAP_SECRETS:
            parsed[str(path)] = [parseback.chap_words(line) for line in text.splitlines()
                                 if line and not line.startswith("#")]
    return parsed


def check_values(parsed: dict[str, Any], answers: Answers) -> None:
    """The answers' values where they land, read back."""
    address = answers.server.address
    peer = answers.variants.transport.peers[0] if answers.variants.transport else None
    if answers.layout == "swanctl":
        conf = parsed[str(paths.SWANCTL_CONF)]
        assert conf.section("connections", "IPSec-IKEv2", "local").get("id") == address
        if peer is not None:
            remote = conf.section("connections", f"transport-{peer.name}", "remote")
            assert remote.get("id") == (peer.id or peer.address)
        owners = [conf.section("secrets", s).get("id") for s in conf.section("secrets").sections]
        users = [u.name for v in (answers.variants.ikev2_eap, answers.variants.ikev1_xauth) if v for u in v.users]
        assert all(name in owners for name in users)
    else:
        conns, _ = parsed[str(paths.IPSEC_CONF)]
        assert conns["IPSec-IKEv2"].get("leftid") == ike_identity(address)
        assert conns["IPSec-IKEv2"].get("rightca") == answers.ca.dn
        if peer is not None:
            assert conns[f"transport-{peer.name}"].get("rightid") == ike_identity(peer.id or peer.address)
            entry = next(e for e in parsed[str(paths.IPSEC_SECRETS)] if e.kind == "PSK" and e.ids)
            assert entry.ids == (ike_identity(address), ike_identity(peer.id or peer.address))
        users = [e.ids for e in parsed[str(paths.IPSEC_SECRETS)] if e.kind in ("XAUTH", "NTLM")]
        expected = [(u.name,) for u in answers.variants.ikev2_eap.users] if answers.variants.ikev2_eap else []
        expected += [(u.name,) for u in answers.variants.ikev1_xauth.users] if answers.variants.ikev1_xauth else []
        assert users == expected
    if answers.variants.l2tp is not None:
        assert [w[0] for w in parsed[str(paths.PPP_CHAP_SECRETS)]] == [u.name for u in answers.variants.l2tp.users]
    for key, doc in parsed.items():
        if key.endswith(".mobileconfig"):
            assert any(p.get("IKEv2", {}).get("RemoteAddress") == address for p in doc["PayloadContent"])
        elif key.endswith(".sswan"):
            assert doc["remote"]["addr"] == address
        elif key.endswith(".nmconnection"):
            assert doc["vpn"]["address"] == address
        elif key.endswith(".ps1"):
            assert doc["Server"] == address


@given(layout=st.sampled_from(("swanctl", "ipsec")), firewall=st.sampled_from(("nftables", "iptables")),
       where=st.sampled_from(FIELDS), value=hostile(), ascii_yaml=st.booleans())
def test_free_text_field_is_refused_by_name_or_parses_back(layout: str, firewall: str, where: Path_,
                                                          value: str, ascii_yaml: bool) -> None:
    doc = base_doc(layout, firewall)
    put(doc, where, value)
    try:
        # JSON is YAML: with ensure_ascii the value arrives through YAML escapes, else as raw characters.
        answers = answers_file.parse(json.dumps(doc, ensure_ascii=ascii_yaml))
    except InvalidAnswers as exc:
        event("refused by the model")
        assert named(exc), exc
        return
    # What the model let through holds nothing a file cannot carry (and no scope id in an address).
    kept = json.dumps(answers_file.to_data(answers), ensure_ascii=False)
    assert problems.unsafe_char(kept) is None
    try:
        plan = plan_of(answers, ENV)
    except InvalidAnswers as exc:
        event("refused by a format")
        # Only a format rule may still refuse, and only with a field's name.
        assert named(exc) and all(p.field for p in exc.problems), exc
        return
    event("accepted")
    check_values(check_well_formed(plan, answers), answers)
    if answers.networking.firewall == "nftables":
        nft = text_files(plan)[paths.NFT_RULES]
        assert f'oifname "{answers.networking.wan_interface}" ' in nft


# Each secret: its environment variable, its field, and whether the legacy ipsec.secrets holds it as text.
SECRETS = {
    "P12": ("clients[0].p12_password", False), "EAP": ("variants.ikev2-eap.users[0].password", False),
    "XPSK": ("variants.ikev1-xauth.psk", True), "XAUTH": ("variants.ikev1-xauth.users[0].password", True),
    "TPSK": ("variants.transport.peers[0].psk", True), "L2TP": ("variants.l2tp.users[0].password", False),
}


def refusal_expected(layout: str, var: str, value: str) -> bool:
    if problems.unsafe_char(value) is not None:
        return True
    hex_written = value[:2] in ("0x", "0s")
    return layout == "ipsec" and SECRETS[var][1] and '"' in value and not hex_written


@given(layout=st.sampled_from(("swanctl", "ipsec")), var=st.sampled_from(sorted(SECRETS)), value=hostile(1))
def test_secret_is_refused_by_name_or_reaches_every_file_intact(layout: str, var: str, value: str) -> None:
    answers = answers_file.parse(json.dumps(base_doc(layout)))
    try:
        plan = plan_of(answers, {**ENV, var: value})
    except InvalidAnswers as exc:
        event("refused")
        assert refusal_expected(layout, var, value), exc
        assert [p.field for p in exc.problems] == [SECRETS[var][0]]
        return
    event("accepted")
    assert not refusal_expected(layout, var, value)
    parsed = check_well_formed(plan, answers)
    check_values(parsed, answers)
    raw = value.encode()
    if var == "P12":
        pkcs12.load_key_and_certificates(client_file(plan, "carol", ".p12"), raw)
        assert parsed[str(paths.client_dir("carol") / "carol.ps1")]["P12Password"] == value
        apple = parsed[str(paths.client_dir("carol") / "carol.mobileconfig")]
        assert [p["Password"] for p in apple["PayloadContent"] if "Password" in p] == [value]
        client = parsed[str(paths.client_dir("carol") / "carol.swanctl.conf")]
        assert [client.section("secrets", s).get("secret") for s in client.section("secrets").sections] == [value]
    elif var == "EAP":
        folder = paths.client_dir("dave")
        assert parsed[str(folder / "dave-eap.sswan")]["local"]["shared_secret"] == value
        assert parsed[str(folder / "dave-eap.nmconnection")]["vpn-secrets"]["password"] == value
        apple = parsed[str(folder / "dave-eap.mobileconfig")]
        assert [p["IKEv2"]["AuthPassword"] for p in apple["PayloadContent"] if "IKEv2" in p] == [value]
        hashed = "0x" + nt_hash(raw).hex()
        assert hashed in server_secret_values(parsed, layout)
    elif var == "L2TP":
        assert parsed[str(paths.PPP_CHAP_SECRETS)][0][2] == value
    else:
        shown = value if value[:2] not in ("0x", "0s") else "0x" + raw.hex()
        assert shown in server_secret_values(parsed, layout)


def server_secret_values(parsed: dict[str, Any], layout: str) -> list[str]:
    if layout == "ipsec":
        return [e.value for e in parsed[str(paths.IPSEC_SECRETS)]]
    conf = parsed[str(paths.SWANCTL_CONF)]
    return [conf.section("secrets", s).get("secret") for s in conf.section("secrets").sections]


# ------------------------------------------------------------------------------ fuzz: loader -> planner -> files

def _mutation() -> st.SearchStrategy[tuple[str, Any, Any]]:
    return st.tuples(st.sampled_from(("field", "new-key", "section")), st.sampled_from(FIELDS), hostile())


@given(layout=st.sampled_from(("swanctl", "ipsec")), mutations=st.lists(_mutation(), min_size=1, max_size=3),
       environ=st.dictionaries(st.sampled_from(sorted(ENV)), hostile(1), max_size=2), ascii_yaml=st.booleans())
def test_fuzz_loader_planner_renderers(layout: str, mutations: list[tuple[str, Any, Any]],
                                       environ: dict[str, str], ascii_yaml: bool) -> None:
    """Random hostile edits anywhere: a field-named refusal, or files that all parse."""
    doc = base_doc(layout)
    for kind, where, value in mutations:
        target = copy.deepcopy(doc)
        try:
            if kind == "field":
                put(target, where, value)
            elif kind == "new-key" and isinstance(where[-1], str):
                put(target, (*where[:-1], value or "k"), 1)
            else:
                target[str(where[0])] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the section this one reaches into
        doc = target
    try:
        answers = answers_file.parse(json.dumps(doc, ensure_ascii=ascii_yaml))
        plan = plan_of(answers, {**ENV, **environ})
    except WizardError as exc:
        event("refused")
        assert named(exc), exc
        assert exc.exit_code == 2
        return
    event("accepted")
    check_values(check_well_formed(plan, answers), answers)
