"""Proposal presets and the checks on custom lists; the keyword tables against a real 5.9.8 charon."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.model import answers_file
from wizard.model.answers import answers_warnings
from wizard.model.proposals import (
    AEAD,
    CBC,
    CTR,
    ENCRYPTION,
    ESN,
    ESP_ONLY_INTEGRITY,
    GMAC,
    IKEV1_ESP,
    IKEV1_IKE,
    INTEGRITY,
    KEY_EXCHANGE,
    MODERN_ESP,
    MODERN_IKE,
    NO_KE,
    PRF,
    SEED_ESP,
    SEED_IKE,
    check_proposal,
    ikev1_split,
    preset,
)
from wizard.problems import InvalidAnswers
from wizard.render.connections import connections, proposals_for

# The Arch Wiki article's conn %default, verbatim (its "!" is the legacy layout's, added by the renderer).
ARTICLE_IKE = ("aes128-sha256-ecp256,aes256-sha384-ecp384,aes128-sha256-modp2048,aes128-sha1-modp2048,"
               "aes256-sha384-modp4096,aes256-sha256-modp4096,aes256-sha1-modp4096,aes128-sha256-modp1536,"
               "aes128-sha1-modp1536,aes256-sha384-modp2048,aes256-sha256-modp2048,aes256-sha1-modp2048,"
               "aes128-sha256-modp1024,aes128-sha1-modp1024,aes256-sha384-modp1536,aes256-sha256-modp1536,"
               "aes256-sha1-modp1536,aes256-sha384-modp1024,aes256-sha256-modp1024,aes256-sha1-modp1024!")
ARTICLE_ESP = ("aes128gcm16-ecp256,aes256gcm16-ecp384,aes128-sha256-ecp256,aes256-sha384-ecp384,"
               "aes128-sha256-modp2048,aes128-sha1-modp2048,aes256-sha384-modp4096,aes256-sha256-modp4096,"
               "aes256-sha1-modp4096,aes128-sha256-modp1536,aes128-sha1-modp1536,aes256-sha384-modp2048,"
               "aes256-sha256-modp2048,aes256-sha1-modp2048,aes128-sha256-modp1024,aes128-sha1-modp1024,"
               "aes256-sha384-modp1536,aes256-sha256-modp1536,aes256-sha1-modp1536,aes256-sha384-modp1024,"
               "aes256-sha256-modp1024,aes256-sha1-modp1024,aes128gcm16,aes256gcm16,aes128-sha256,aes128-sha1,"
               "aes256-sha384,aes256-sha256,aes256-sha1!")

BASE = "version: 1\nserver: {address: vpn.example.com}\n"


def errors(proposal: str, kind: str, version: int = 2) -> str:
    return " | ".join(check_proposal(proposal, kind, version).errors)


def test_seed_preset_is_the_articles_exact_lists() -> None:
    assert ",".join(SEED_IKE) + "!" == ARTICLE_IKE
    assert ",".join(SEED_ESP) + "!" == ARTICLE_ESP


@pytest.mark.parametrize(("lists", "version"), [
    ((MODERN_IKE, MODERN_ESP), 2), ((SEED_IKE, SEED_ESP), 2), ((SEED_IKE, SEED_ESP), 1), ((IKEV1_IKE, IKEV1_ESP), 1)])
def test_every_preset_entry_passes_its_own_checks(lists: tuple[tuple[str, ...], tuple[str, ...]],
                                                  version: int) -> None:
    for kind, entries in zip(("ike", "esp"), lists, strict=True):
        for entry in entries:
            assert not check_proposal(entry, kind, version).errors, entry


def test_modern_preset_avoids_weak_algorithms() -> None:
    for kind, entries in (("ike", MODERN_IKE), ("esp", MODERN_ESP), ("ike", IKEV1_IKE)):
        for entry in entries:
            warnings = check_proposal(entry, kind).warnings
            assert not [w for w in warnings if "modp1024" in w or "modp1536" in w or "3des" in w], entry
    # the PFS-optional tail that keeps both rekeying styles of clients (reference §2.4)
    assert all(e.endswith("-none") for e in MODERN_ESP)


def test_presets_per_ike_version() -> None:
    assert preset("modern", "ike") == MODERN_IKE and preset("modern", "esp", 2) == MODERN_ESP
    assert preset("modern", "ike", 1) == IKEV1_IKE and preset("modern", "esp", 1) == IKEV1_ESP
    # the article's CiscoIPSec inherits conn %default's lists
    assert preset("seed", "ike", 1) == SEED_IKE and preset("seed", "esp", 1) == SEED_ESP


def test_ikev1_presets_name_one_algorithm_of_each_kind() -> None:
    for entry in IKEV1_IKE + IKEV1_ESP:
        assert len(entry.split("-")) <= 3, entry


@pytest.mark.parametrize(("proposal", "kind", "version", "expected"), [
    ("aes257-sha256-modp2048", "ike", 2, "unknown algorithm 'aes257'"),
    ("aes256-sha256-prfsha256", "esp", 2, "'prfsha256' is an IKE PRF; ESP proposals have none"),
    ("aes256-sha256-none", "ike", 2, "'none' (no key exchange) only exists for ESP"),
    ("aes256-sha256-modp2048-esn", "ike", 2, "'esn' only exists for ESP"),
    ("aes256-sha256_96-modp2048", "ike", 2, "'sha256_96' only exists for ESP"),
    ("sha256-modp2048", "ike", 2, "names no encryption algorithm"),
    ("aes256-modp2048", "ike", 2, "names no integrity algorithm"),
    ("aes256-modp2048", "esp", 2, "names no integrity algorithm"),
    ("aes256-sha256", "ike", 2, "names no key exchange group"),
    ("aes256gcm16-aes256-sha256-modp2048", "ike", 2, "mixes AEAD (aes256gcm16) and classic ciphers (aes256)"),
    ("aes256--sha256", "ike", 2, "is not a proposal"),
    ("aes256-aes128-sha256-modp2048", "ike", 1, "names 2 encryption algorithms; IKEv1 negotiates one"),
    ("aes256-sha256-modp2048-ecp256", "ike", 1, "names 2 key exchange algorithms"),
    ("aes256gcm16-prfsha256-modp2048", "ike", 1, "IKEv1 has no aes256gcm16 for the IKE SA"),
    ("aes256ctr-sha256-modp2048", "ike", 1, "IKEv1 has no aes256ctr for the IKE SA"),
    ("aes256-aesxcbc-modp2048", "ike", 1, "IKEv1 has no aesxcbc hash"),
    ("aes256-sha256-prfsha256-modp2048", "ike", 1, "IKEv1 derives the PRF from the hash"),
    ("aes256-modp2048", "ike", 1, "names no integrity (hash) algorithm"),
    ("aes256-sha256-sha1", "esp", 1, "names 2 integrity algorithms"),
])
def test_wrong_proposals_are_refused_with_a_reason(proposal: str, kind: str, version: int, expected: str) -> None:
    assert expected in errors(proposal, kind, version)


@pytest.mark.parametrize(("proposal", "kind", "version"), [
    ("aes256gcm16-sha384-ecp384", "ike", 2),  # with an AEAD cipher the integrity keyword names the PRF
    ("aes256gcm16-prfsha384-ecp384", "ike", 2),
    ("chacha20poly1305-prfsha256-x25519", "ike", 2),
    ("aes256gcm16-ecp384-none", "esp", 2),
    ("aes128gmac", "esp", 2),
    ("aes256-sha256_96", "esp", 2),
    ("aes256-sha256-ecp256bp-esn", "esp", 2),
    ("aes256gcm16-modp2048", "esp", 1),  # IKEv1 ESP has AEAD (quick mode), only its IKE SA has not
    ("3des-md5-modp1024", "ike", 1),
])
def test_valid_proposals_pass(proposal: str, kind: str, version: int) -> None:
    assert not errors(proposal, kind, version)


@pytest.mark.parametrize(("proposal", "kind", "needle"), [
    ("aes256-sha256-modp1024", "ike", "modp1024 (group 2) is weak"),
    ("aes256-sha1-modp2048", "ike", "SHA-1 is below 128-bit strength"),
    ("3des-sha256-modp2048", "ike", "3DES has a 64-bit block"),
    ("aes128gmac", "esp", "GMAC authenticates but does not encrypt"),
    ("null-sha256", "esp", "sends traffic in the clear"),
    ("aes256-sha256-modp2048s256", "ike", "RFC 5114"),
])
def test_weak_choices_are_warned_about(proposal: str, kind: str, needle: str) -> None:
    result = check_proposal(proposal, kind)
    assert not result.errors and any(needle in w for w in result.warnings), result


def test_ikev1_split_turns_ikev2_lists_into_single_algorithm_proposals() -> None:
    assert ikev1_split(["aes256-aes128-sha256-sha1-modp2048-ecp256"], "ike") == (
        "aes256-sha256-modp2048", "aes256-sha256-ecp256", "aes256-sha1-modp2048", "aes256-sha1-ecp256",
        "aes128-sha256-modp2048", "aes128-sha256-ecp256", "aes128-sha1-modp2048", "aes128-sha1-ecp256")
    # IKEv1 has no AEAD/CTR for its IKE SA and no PRF keyword; a "none" group becomes "no PFS"
    assert ikev1_split(["aes256gcm16-prfsha384-ecp384"], "ike") == ()
    assert ikev1_split(["aes256ctr-aes128-aesxcbc-sha256-prfsha256-modp2048"], "ike") == ("aes128-sha256-modp2048",)
    assert ikev1_split(["aes256gcm16-ecp384-none", "aes256-sha256-none"], "esp") == (
        "aes256gcm16-ecp384", "aes256gcm16", "aes256-sha256")
    assert ikev1_split(["aes256-sha256", "aes256-sha256"], "esp") == ("aes256-sha256",)
    for entry in ikev1_split(MODERN_IKE, "ike"):
        assert not check_proposal(entry, "ike", 1).errors, entry
    for entry in ikev1_split(MODERN_ESP, "esp"):
        assert not check_proposal(entry, "esp", 1).errors, entry


def test_custom_lists_reach_every_connection_of_their_ike_version() -> None:
    answers = answers_file.parse(BASE + """\
clients: [{name: a@example.com}]
variants:
  ikev2-cert: {}
  ikev2-eap: {}
  ikev1-xauth: {}
  transport: {peers: [{name: p, address: 192.0.2.7}]}
  l2tp: {}
proposals:
  ike: [aes256gcm16-prfsha384-ecp384, aes256-sha256-modp2048]
  esp: [aes256gcm16-ecp384-none]
""")
    specs = connections(answers)
    v2 = [s for s in specs if s.version == 2]
    v1 = [s for s in specs if s.version == 1]
    assert len(v2) == 3 and len(v1) == 2
    # every IKEv2 conn shares one list: charon picks the IKE config before it knows the conn (§6 row 4)
    assert {s.ike_proposals for s in v2} == {("aes256gcm16-prfsha384-ecp384", "aes256-sha256-modp2048")}
    assert {s.ike_proposals for s in v1} == {("aes256-sha256-modp2048",)}
    assert {s.esp_proposals for s in v1} == {("aes256gcm16-ecp384", "aes256gcm16")}


def test_custom_ikev1_lists_are_used_as_given_and_checked_as_ikev1() -> None:
    answers = answers_file.parse(BASE + """\
variants: {l2tp: {}}
proposals:
  ike: [aes256gcm16-prfsha384-ecp384]
  esp: [aes256gcm16]
  ike_v1: [aes256-sha256-modp2048, aes128-sha1-modp2048]
  esp_v1: [aes256-sha256]
""")
    assert proposals_for(answers, "ike", 1) == ("aes256-sha256-modp2048", "aes128-sha1-modp2048")
    assert proposals_for(answers, "esp", 1) == ("aes256-sha256",)
    assert any(f.field == "proposals.ike_v1" and "SHA-1" in f.message for f in answers_warnings(answers))
    with pytest.raises(InvalidAnswers) as info:
        answers_file.parse(BASE + "proposals: {ike: [aes256-sha256-modp2048], esp: [aes256gcm16], "
                                  "ike_v1: [aes256-aes128-sha256-modp2048]}\n")
    assert [p.field for p in info.value.problems] == ["proposals.ike_v1"]


def test_aead_only_custom_lists_need_explicit_ikev1_lists_when_ikev1_is_on() -> None:
    text = BASE + "variants: {%s}\nproposals: {ike: [aes256gcm16-prfsha384-ecp384], esp: [aes256gcm16]}\n"
    answers_file.parse(text % "ikev2-cert: {}")  # no IKEv1 connection: fine
    with pytest.raises(InvalidAnswers) as info:
        answers_file.parse(text % "l2tp: {}", "a.yaml")
    assert any(p.field == "proposals.ike" and "add proposals.ike_v1" in p.message for p in info.value.problems)


# ---------------------------------------------------------------------------------------------------
# the keyword tables against the real parser


def _probe(token: str) -> list[tuple[str, str]]:
    """(ike, esp) proposal pairs that put ``token`` where its kind belongs."""
    if token in ENCRYPTION:
        aead = token in AEAD or token in GMAC
        pairs = [("aes128-sha256-modp2048", token if aead else f"{token}-sha256")]
        if token not in GMAC:
            pairs.append((f"{token}-prfsha256-modp2048" if aead else f"{token}-sha256-modp2048", "aes128-sha256"))
        return pairs
    if token in INTEGRITY:
        pairs = [("aes128-sha256-modp2048", f"aes128-{token}")]
        return pairs if token in ESP_ONLY_INTEGRITY else [*pairs, (f"aes128-{token}-modp2048", "aes128-sha256")]
    if token in PRF:
        return [(f"aes128-sha256-{token}-modp2048", "aes128-sha256")]
    if token in NO_KE or token in ESN:
        return [("aes128-sha256-modp2048", f"aes128-sha256-{token}")]
    assert token in KEY_EXCHANGE
    return [(f"aes128-sha256-{token}", "aes128-sha256"), ("aes128-sha256-modp2048", f"aes128-sha256-{token}")]


@pytest.mark.lab
def test_every_keyword_we_accept_is_accepted_by_charon_and_unknown_ones_are_not(tmp_path: Path) -> None:
    from lab import open_lab

    tokens = sorted(ENCRYPTION | INTEGRITY | PRF | KEY_EXCHANGE | ESN)
    assert CBC | CTR | AEAD | GMAC <= ENCRYPTION
    with open_lab(tmp_path) as lab:
        peer = lab.add_peer("server")
        peer.start()
        session = peer.vici()

        def loads(ike: str, esp: str) -> bool:
            try:
                session.load_conn({"probe": {"version": "2", "proposals": [ike], "local": {"auth": "psk"},
                                             "remote": {"auth": "psk"}, "children": {"c": {"esp_proposals": [esp]}}}})
            except Exception:  # vici.exception.CommandException: "invalid value for: proposals"
                return False
            return True

        refused = [(t, ike, esp) for t in tokens for ike, esp in _probe(t) if not loads(ike, esp)]
        assert not refused, refused
        # what our checks refuse as unknown or malformed, charon's parser refuses too
        for ike, esp in (("aes257-sha256-modp2048", "aes128-sha256"), ("aes128-sha3-modp2048", "aes128-sha256"),
                         ("aes128-sha256-modp2048", "aes128gcm16-aes128-sha256"),
                         ("aes128-sha256-none", "aes128-sha256"), ("aes128-prfsha256-modp2048", "aes128-sha256")):
            assert not loads(ike, esp), (ike, esp)
            assert errors(ike, "ike") or errors(esp, "esp"), (ike, esp)
