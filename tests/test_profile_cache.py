"""Rendered profiles are taken from disk only when the cache vouches for them: the result is what rendering gives."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_ledger import ANSWERS, plan_and_apply

from wizard.fs import paths, stamps
from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused
from wizard.render import profiles
from wizard.render.profiles import cache
from wizard.render.profiles.cache import ProfileCache

EAP_ANSWERS = ANSWERS + "  ikev2-eap:\n    users:\n      - {name: carol, password: {generate: true}}\n"


class Rendered:
    """Counts the renders of every profile format and of the README."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0

        def counting(render):  # type: ignore[no-untyped-def]
            def wrapped(value):  # type: ignore[no-untyped-def]
                self.count += 1
                return render(value)
            return wrapped

        formats = tuple(dataclasses.replace(f, render=counting(f.render)) for f in profiles.FORMATS)
        monkeypatch.setattr(profiles, "FORMATS", formats)
        monkeypatch.setattr(profiles, "_readme_bytes", counting(profiles._readme_bytes))


def profile_files(root: Root) -> dict[str, bytes]:
    base = root(paths.CLIENTS_DIR)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and not p.name.endswith((".pem", ".p12")) and p.name != "p12-password"}


def test_a_rerun_renders_nothing_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path, EAP_ANSWERS)
    rendered = Rendered(monkeypatch)
    applied, _ = plan_and_apply(tmp_path, EAP_ANSWERS)
    assert applied.changed == set()
    assert rendered.count == 0


def test_verify_renders_everything_and_gets_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, root = plan_and_apply(tmp_path, EAP_ANSWERS)
    before = profile_files(root)
    rendered = Rendered(monkeypatch)
    applied, _ = plan_and_apply(tmp_path, EAP_ANSWERS, verify=True)
    # 3 profiles (alice, bob, carol's EAP) x 5 formats + 3 READMEs
    assert rendered.count == 3 * len(profiles.FORMATS) + 3
    assert applied.changed == set() and profile_files(root) == before


def test_a_hand_edited_profile_is_rendered_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, root = plan_and_apply(tmp_path)
    target = root(paths.client_dir("alice@example.com") / "alice@example.com.sswan")
    original = target.read_bytes()
    target.write_bytes(original.replace(b"vpn.example.com", b"evil.example.net"))
    rendered = Rendered(monkeypatch)
    applied, _ = plan_and_apply(tmp_path)
    assert applied.changed == {str(paths.client_dir("alice@example.com") / "alice@example.com.sswan")}
    assert rendered.count == 1 and target.read_bytes() == original


def test_a_changed_answer_renders_the_profiles_it_touches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path)
    rendered = Rendered(monkeypatch)
    plan_and_apply(tmp_path, ANSWERS.replace("{name: bob@example.com, key: ecdsa-p256}",
                                             "{name: bob@example.com, key: ecdsa-p256, on_demand: true}"))
    assert rendered.count == len(profiles.FORMATS) + 1  # bob's profile and README, not alice's
    rendered.count = 0
    _, root = plan_and_apply(tmp_path, ANSWERS.replace("vpn.example.com", "vpn2.example.com"))
    assert rendered.count == 2 * len(profiles.FORMATS) + 2  # every profile names the server
    assert b"vpn2.example.com" in root(paths.client_dir("bob@example.com") / "README.txt").read_bytes()


def test_another_version_of_the_wizard_renders_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path)
    monkeypatch.setattr(cache, "code_digest", lambda: hashlib.sha256(b"an upgraded renderer").digest())
    rendered = Rendered(monkeypatch)
    plan_and_apply(tmp_path)
    assert rendered.count == 2 * len(profiles.FORMATS) + 2


def test_the_cache_holds_no_password_and_is_private(tmp_path: Path):
    _, root = plan_and_apply(tmp_path, EAP_ANSWERS)
    text = root(cache.CACHE).read_bytes()
    assert root(cache.CACHE).stat().st_mode & 0o777 == 0o600
    password = root(paths.client_dir("alice@example.com") / "p12-password").read_bytes().strip()
    assert password not in text and hashlib.sha256(password).hexdigest().encode() not in text


@pytest.mark.parametrize("data", [b"", b"{", b'{"version": 1}', b'{"version": 1, "salt": "zz", "files": {}}',
                                  b'{"version": 1, "salt": "' + b"0" * 32 + b'", "files": {"/x": [1, 2]}}'])
def test_a_damaged_cache_renders_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes):
    plan_and_apply(tmp_path)
    root = Root.of(tmp_path / "root")
    root(cache.CACHE).write_bytes(data)
    rendered = Rendered(monkeypatch)
    applied, _ = plan_and_apply(tmp_path)
    assert rendered.count == 2 * len(profiles.FORMATS) + 2
    assert applied.changed == {str(cache.CACHE)}


@pytest.mark.parametrize("damage", [b"[1, 2]", b"[\"a\"]", b"{", b'["x", "y"], "/z": ["x", "y"]'])
def test_a_damaged_entry_is_a_missing_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes):
    """Entries are decoded when asked for: a damaged one in a file of the right shape costs its file a render."""
    plan_and_apply(tmp_path)
    root = Root.of(tmp_path / "root")
    sswan = str(paths.client_dir("alice@example.com") / "alice@example.com.sswan")
    lines = root(cache.CACHE).read_bytes().split(b"\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(b'"' + sswan.encode() + b'": '))
    lines[at] = b'"' + sswan.encode() + b'": ' + damage + (b"," if lines[at].endswith(b",") else b"")
    root(cache.CACHE).write_bytes(b"\n".join(lines))
    root(stamps.STAMPS).unlink()  # every folder planned: the cache is asked for each file
    rendered = Rendered(monkeypatch)
    applied, _ = plan_and_apply(tmp_path)
    assert rendered.count == 1
    assert applied.changed == {str(cache.CACHE)}
    assert sswan.encode() + b'": ' + damage not in root(cache.CACHE).read_bytes()


def test_a_cache_reached_through_a_link_is_refused(tmp_path: Path):
    plan_and_apply(tmp_path)
    root = Root.of(tmp_path / "root")
    real = root(cache.CACHE)
    (tmp_path / "elsewhere.json").write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(LinkRefused):
        cache.load(root)


def test_no_clients_no_cache(tmp_path: Path):
    plan_and_apply(tmp_path)
    _, root = plan_and_apply(tmp_path, ANSWERS.split("clients:")[0] + "variants:\n  ikev2-cert: {}\n")
    assert not root(cache.CACHE).exists()


# ------------------------------------------------------------------ the digest: equal only for equal inputs

class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Inner:
    text: str
    data: bytes


@dataclasses.dataclass
class Outer:
    inner: Inner
    items: list[object]
    when: datetime | None = None
    colour: Colour | None = None


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.binary(max_size=8),
                    st.sampled_from(Colour))
values = st.builds(Outer, st.builds(Inner, st.text(max_size=8), st.binary(max_size=8)),
                   st.lists(scalars, max_size=4),
                   st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))), st.one_of(st.none(),
                                                                                         st.sampled_from(Colour)))


@given(values, values)
def test_the_digest_separates_different_inputs(a: Outer, b: Outer):
    one = ProfileCache(salt="00" * 16)
    if one.key("profile", a) == one.key("profile", b):
        assert a == b
    # An equal copy (another object: nothing remembered by identity) digests the same.
    twin = Outer(Inner(a.inner.text, bytes(a.inner.data)), list(a.items), a.when, a.colour)
    assert ProfileCache(salt="00" * 16).key("profile", twin) == one.key("profile", a)


def test_the_digest_tells_types_and_boundaries_apart():
    one = ProfileCache(salt="00" * 16)
    assert one.key("k", ["ab", "c"]) != one.key("k", ["a", "bc"])
    assert one.key("k", [1]) != one.key("k", ["1"]) != one.key("k", [b"1"])
    assert one.key("k", [True]) != one.key("k", [1])
    assert one.key("k", "x") != ProfileCache(salt="11" * 16).key("k", "x")


def test_an_unknown_type_is_refused_not_guessed():
    with pytest.raises(TypeError):
        ProfileCache().key("k", {"a": 1})


def test_profiles_rendered_on_two_cores_are_the_bytes_one_core_renders(tmp_path: Path, forks: list[int],
                                                                        monkeypatch: pytest.MonkeyPatch):
    """Many renders go half to a forked child: the files are those a serial render gives, byte for byte, and a
    render that raises (no suite for Apple devices) is reported as it is when rendered in place."""
    from wizard.render.profiles import apple, prerender

    def no_suite(_profile: object) -> bytes:
        raise apple.NoSuite("the server's proposals offer no suite Apple devices support")

    monkeypatch.setattr(prerender, "PARALLEL_FROM", 1)
    formats = tuple(dataclasses.replace(f, render=no_suite) if f.suffix == ".mobileconfig" else f
                    for f in profiles.FORMATS)
    monkeypatch.setattr(profiles, "FORMATS", formats)
    applied, root = plan_and_apply(tmp_path, EAP_ANSWERS)
    assert len(forks) == 1
    assert sum("no Apple" in n for n in applied.notes) == 3  # alice, bob and carol's EAP profile
    assert not list(root(paths.CLIENTS_DIR).rglob("*.mobileconfig"))
    monkeypatch.setattr(prerender, "PARALLEL_FROM", 10**9)
    again, _ = plan_and_apply(tmp_path, EAP_ANSWERS, verify=True)  # every file rendered again, in place
    assert again.changed == set() and len(forks) == 1
