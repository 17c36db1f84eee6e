"""Better defaults and guidance: the CA's name, DNS for clients, a server behind NAT, the admin's words."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_tui_screens import FAST, app_at, field_message
from test_tui_support import (
    choose,
    fake_netfacts,
    fake_report,
    fill,
    probe_with,
    run_async,
    screen_text,
    wait_screen,
    wait_until,
)
from textual.widgets import Input, RadioButton

from screens.app import create_app
from screens.widgets.choice import Choice
from wizard.fs.paths import Root
from wizard.model import answers_file, field_check
from wizard.model.answers import Answers, SecretRef, Server, default_ca_dn
from wizard.model.wording import LABELS, OWN_WORDS, PLAIN, label
from wizard.plan import session
from wizard.problems import InvalidAnswers
from wizard.system.netfacts import Interface
from wizard.system.resolvers import host_resolvers


def test_a_ca_without_a_dn_is_named_after_the_server() -> None:
    assert answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n").ca.dn == \
        "O=example.com, CN=vpn.example.com VPN CA"
    assert Answers(server=Server(address="203.0.113.10")).ca.dn == "CN=203.0.113.10 VPN CA"
    assert default_ca_dn("gateway") == "CN=gateway VPN CA"
    long_name = "a" * 60 + ".example.com"
    assert default_ca_dn(long_name) == "O=example.com, CN=VPN CA"  # a CN holds at most 64 characters


def test_a_dn_the_answers_give_is_kept() -> None:
    text = "version: 1\nserver: {address: vpn.example.com}\nca: {dn: 'C=CH, O=strongSwan, CN=strongSwan Root CA'}\n"
    answers = answers_file.parse(text)
    assert answers.ca.dn == "C=CH, O=strongSwan, CN=strongSwan Root CA"
    # and a saved copy keeps it too, whatever the server address becomes
    again = answers_file.parse(answers_file.dumps(answers).replace("vpn.example.com", "gw.example.org"))
    assert again.ca.dn == "C=CH, O=strongSwan, CN=strongSwan Root CA"


def test_the_ca_step_shows_the_derived_dn_and_it_follows_the_address(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca", FAST.replace("vpn.example.com", "vpn.corp.example"))
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.screen.query_one("#ca-dn-o", Input).value == "corp.example"
            assert app.screen.query_one("#ca-dn-cn", Input).value == "vpn.corp.example VPN CA"
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            await fill(pilot, "#server-address", "gw.example.org")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            assert app.session.answers.ca.dn == "O=example.org, CN=gw.example.org VPN CA"
            assert app.session.answers.ca.key.value == "ecdsa-p256"

    run_async(go())


def test_an_edited_dn_stays_when_the_address_changes(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#ca-dn-cn", "Example VPN")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            await fill(pilot, "#server-address", "gw.example.org")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            assert app.session.answers.ca.dn == "O=example.com, CN=Example VPN"

    run_async(go())


def words(text: str) -> str:
    """Screen text with its line breaks and padding folded: a hint wraps at 80 columns."""
    return " ".join(text.split())


def write_resolv(root: Path, text: str, where: str = "etc/resolv.conf") -> None:
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).write_text(text)


def test_the_hosts_resolvers_skip_loopback_stubs_with_the_reason(tmp_path: Path) -> None:
    write_resolv(tmp_path, "# generated\nnameserver 192.0.2.53\nnameserver 127.0.0.53\noptions edns0\n")
    found = host_resolvers(Root.of(tmp_path))
    assert found.usable == ("192.0.2.53",)
    assert found.skipped == (("127.0.0.53", "is on this host's loopback (a local stub clients cannot reach)"),)


def test_behind_systemd_resolveds_stub_its_upstream_servers_are_offered(tmp_path: Path) -> None:
    # /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, followed inside the root
    write_resolv(tmp_path, "nameserver 127.0.0.53\n", "run/systemd/resolve/stub-resolv.conf")
    write_resolv(tmp_path, "nameserver 198.51.100.1\nnameserver 198.51.100.2\n", "run/systemd/resolve/resolv.conf")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    found = host_resolvers(Root.of(tmp_path))
    assert found.usable == ("198.51.100.1", "198.51.100.2")
    assert [a for a, _ in found.skipped] == ["127.0.0.53"]


def test_an_absolute_link_is_followed_below_the_root(tmp_path: Path) -> None:
    write_resolv(tmp_path, "nameserver 203.0.113.53\n", "run/resolvconf/resolv.conf")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").symlink_to("/run/resolvconf/resolv.conf")
    assert host_resolvers(Root.of(tmp_path)).usable == ("203.0.113.53",)
    assert host_resolvers(Root.of(tmp_path / "nothing")).skipped == (("/etc/resolv.conf", "is missing"),)


def test_dns_for_clients_is_a_menu_of_this_servers_resolver_public_ones_and_custom(tmp_path: Path) -> None:
    write_resolv(tmp_path, "nameserver 192.0.2.53\nnameserver 127.0.0.1\n")

    async def go() -> None:
        app = app_at(tmp_path, "addresses", FAST.replace("dns: [10.10.10.1]", "dns: [8.8.8.8, 8.8.4.4]"))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "AddressesScreen")
            menu = app.screen.query_one("#dns-choice", Choice)
            assert menu.value == "google"  # what the answers hold
            assert not app.screen.query_one("#dns-custom").display
            assert "skipped: 127.0.0.1 is on this host's loopback" in words(screen_text(app))
            await choose(pilot, "#dns-choice", "host")
            assert "this server's resolver (192.0.2.53)" in screen_text(app)
            await choose(pilot, "#dns-choice", "custom")
            assert app.screen.query_one("#dns-custom").display
            await fill(pilot, "#pool-dns", "9.9.9.9, dns.example")
            assert "'dns.example' is not an IP address" in field_message(app, "pool-dns")
            await fill(pilot, "#pool-dns", "192.0.2.1, 192.0.2.2")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "NetworkingScreen")
            assert app.session.answers.pool.dns == ["192.0.2.1", "192.0.2.2"]

    run_async(go())


def test_a_public_resolver_is_chosen_from_the_menu(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "addresses")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "AddressesScreen")
            assert app.screen.query_one("#dns-choice", Choice).value == "custom"  # 10.10.10.1: on no menu
            assert "this server's resolver is not offered: /etc/resolv.conf is missing" in words(screen_text(app))
            await choose(pilot, "#dns-choice", "quad9")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "NetworkingScreen")
            assert app.session.answers.pool.dns == ["9.9.9.9", "149.112.112.112"]

    run_async(go())


def lan_netfacts(_names: list[str] | None = None) -> Any:
    facts = fake_netfacts()
    return replace(facts, interfaces=(Interface("eth0", ("192.168.1.20/24",), True),
                                      Interface("lo", ("127.0.0.1/8",), True)),
                   default_gateway="192.168.1.1", resolved={})


def test_the_networking_step_points_out_a_server_behind_nat_with_what_to_do(tmp_path: Path) -> None:
    async def go() -> None:
        text = FAST.replace("vpn.example.com", "192.168.1.20")
        app = create_app(tmp_path, net_probe=lan_netfacts, probe=probe_with(), start="networking",
                         session=session.Session(answers=answers_file.parse(text), step="networking"),
                         report=fake_report(Root.of(tmp_path)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "NetworkingScreen")
            await wait_until(pilot, lambda: app.screen.facts is not None, "the network facts")
            shown = words(screen_text(app))
            assert "192.168.1.20 is a private address and this host has no public one" in shown
            assert "forward UDP 500 and UDP 4500 to 192.168.1.20" in shown

    run_async(go())


# --- the admin's words -------------------------------------------------------------------------------

BAD_VALUES: tuple[object, ...] = ("x", "", -5, 0, 10**9, 1.5, True, None, [], [""], ["x"], {"bogus": 1}, "a" * 300,
                                  ["10.0.0.1/24"], "10.0.0.1/24", "C=USA, CN=x", "2026-13-45")
# pydantic's phrasing, list indices, YAML keys (snake_case, "auth: cert") and dotted field paths
SHOWN_BANNED = re.compile(r"Input should|List should|String should|[Vv]alidation|\[\d+\]|\b[a-z0-9]+_[a-z0-9_]+\b"
                          r"|\b(auth|backend): "
                          r"|\b(server|ca|host|clients|variants|pool|networking|radius|proposals)\.[a-z]")


def model_paths() -> list[str]:
    """Every field path of the answers ("[]": an entry of a list), as the labels name them."""
    import typing

    from pydantic import BaseModel

    from wizard.model.answers_file import _unwrap

    def walk(model: type[BaseModel], prefix: str) -> Iterator[str]:
        for name, info in model.model_fields.items():
            path = f"{prefix}.{info.alias or name}" if prefix else info.alias or name
            yield path
            for cls in _unwrap(info.annotation):
                is_list = typing.get_origin(cls) is list
                for inner in (_unwrap(typing.get_args(cls)[0]) if is_list else [cls]):
                    if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not SecretRef:
                        yield from walk(inner, path + ("[]" if is_list else ""))

    return list(dict.fromkeys(walk(Answers, "")))


def base_data() -> dict[str, Any]:
    answers = answers_file.load(Path(__file__).parent / "data/answers/good/complete.yaml")
    data = answers.model_dump(by_alias=True, exclude_none=True, mode="json")
    data["proposals"] = {"ike": ["aes256gcm16-prfsha384-ecp384"], "esp": ["aes256gcm16-ecp384"]}
    data["revoked"] = [{"name": "old", "serial": "1f", "revoked_at": "2026-01-01T00:00:00Z"}]
    return data


def put(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of ``data`` with ``value`` at ``path`` (first entry of each list on the way)."""
    out = copy.deepcopy(data)
    node: Any = out
    parts = re.findall(r"[^.\[\]]+|\[\]", path)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "[]":
            if not node:
                node.append({})
            if last:
                node[0] = value
            node = node[0]
        elif last:
            node[part] = value
        else:
            want: type = list if parts[i + 1] == "[]" else dict
            if not isinstance(node.get(part), want):
                node[part] = want()
            node = node[part]
    return out


def shown_problems(data: dict[str, Any]) -> tuple[list[str], set[str]]:
    """What the screens would show for ``data`` (label: message, as the list under a form), and the
    pydantic error types behind it."""
    base = answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n")
    checked = field_check.check(base, {k: v for k, v in data.items() if k != "version"})
    try:
        Answers.model_validate(data)
        kinds: set[str] = set()
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
    return [f"{label(k)}: {m}" for k, m in checked.problems.items()], kinds


def test_every_field_path_has_an_on_screen_label() -> None:
    assert [p for p in model_paths() if p not in LABELS] == []


def test_every_error_the_model_raises_is_in_plain_words_on_screen() -> None:
    data = base_data()
    kinds: set[str] = set()
    bad: list[str] = []
    cases = [put(data, path, value) for path in model_paths() for value in BAD_VALUES]
    cases += [  # the cross-field rules and the model's own sentences that name other fields
        put(data, "variants.ikev2-eap.users", [{"name": "Dave"}, {"name": "dave"}]),
        put(data, "clients", [{"name": "a@example.com"}, {"name": "A@example.com"}]),
        put(data, "variants", {}),
        put(put(data, "variants.ikev1-xauth.auth", "psk"), "variants.l2tp.auth", "psk"),
        put(data, "variants.ikev2-eap.backend", "radius"),
        put(data, "variants.l2tp.local_ip", "192.168.42.20"),
        put(data, "variants.ikev1-xauth.local_ts", ["10.0.0.0/8", "192.168.0.0/16"]),
        put(data, "host.key", "ed25519"),
        put(put(data, "variants.transport.peers", [{"name": "a", "address": "192.0.2.1"}] * 2), "layout", "ipsec"),
        put(data, "radius", {"servers": [{"address": "192.0.2.1"}, {"address": "192.0.2.1"}]}),
        put(data, "pool", {"addresses": "10.0.0.0/24", "dhcp": {}}),
    ]
    for case in cases:
        lines, found = shown_problems(case)
        kinds |= found
        bad += [line for line in lines if SHOWN_BANNED.search(line.split(": ", 1)[1] if ": " in line else line)
                or SHOWN_BANNED.search(line)]
    assert not bad, "\n".join(dict.fromkeys(bad))
    # every pydantic error type these bad values reach has words of its own (or is the model's own sentence)
    assert sorted(k for k in kinds if k not in PLAIN and k not in OWN_WORDS) == []
    assert {"int_parsing", "too_short", "bool_parsing", "greater_than_equal", "missing"} <= kinds, sorted(kinds)


def test_the_cli_keeps_the_dotted_paths_and_the_files_spellings() -> None:
    text = "version: 1\nserver: {address: vpn.example.com}\nclients: [{name: a}, {name: A}]\nca: {lifetime_days: x}\n"
    with pytest.raises(InvalidAnswers) as caught:
        answers_file.parse(text)
    lines = [str(p) for p in caught.value.problems]
    assert any(line.startswith("answers:3: clients: there is already a client 'a'") for line in lines), lines
    assert any("ca.lifetime_days: Input should be a valid integer" in line for line in lines), lines


def test_a_country_of_three_letters_is_marked_under_country_with_the_focus_there(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#ca-dn-c", "USA")
            assert "country must be two letters" in field_message(app, "ca-dn-c")
            assert field_message(app, "ca-dn-cn") == ""
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.screen.focused is not None and app.screen.focused.id == "ca-dn-c"

    run_async(go())


def test_a_form_lists_what_no_field_shows_by_its_label(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#ca-lifetime", "ten")
            assert field_message(app, "ca-lifetime") == "must be a whole number"

    run_async(go())


# --- the confirm dialog and radio sets ----------------------------------------------------------------

NOTHING_OPEN = """
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
clients: [{name: alice@example.com, key: ecdsa-p256}]
variants: {ikev2-cert: {}}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""


async def to_confirm(pilot: Any) -> Any:
    app = pilot.app
    await wait_screen(pilot, "ReviewScreen")
    await wait_until(pilot, lambda: app.screen.plan is not None, "the plan", timeout=120)
    problems = list(app.screen.open_problems)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ConfirmScreen")
    return problems


def test_the_confirm_dialog_starts_on_apply_when_nothing_is_open(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "review", NOTHING_OPEN)
        async with app.run_test(size=(80, 24)) as pilot:
            assert await to_confirm(pilot) == []
            assert app.screen.focused is not None and app.screen.focused.id == "yes"
            await pilot.press("enter")
            await wait_screen(pilot, "ApplyScreen")
            await wait_until(pilot, lambda: app.screen.state != "running", "the apply", timeout=120)

    run_async(go())


@pytest.mark.parametrize("key", ["enter", "escape"])
def test_with_open_problems_it_starts_on_cancel_and_cancel_says_nothing_was_written(tmp_path: Path,
                                                                                    key: str) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "review")  # FAST: an ecdsa host key, a warning for Apple clients
        async with app.run_test(size=(80, 24)) as pilot:
            problems = await to_confirm(pilot)
            assert problems and "Host key type" in problems[0]
            assert app.screen.focused is not None and app.screen.focused.id == "no"
            await pilot.press(key)
            await wait_screen(pilot, "ReviewScreen")
            await pilot.pause(0.2)
            assert "Nothing was written: the plan was not applied" in words(screen_text(app))
        assert not (tmp_path / "etc/swan-wizard/ca").exists()

    run_async(go())


def test_arrows_in_a_radio_set_choose(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "addresses")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "AddressesScreen")
            assert not app.screen.query_one("#split-field").display
            app.screen.query_one("#tunnel").focus()
            await pilot.pause()
            await pilot.press("right")
            await pilot.pause()
            assert app.screen.query_one("#tunnel-split", RadioButton).value
            assert app.screen.query_one("#split-field").display  # the choice took effect at once
            await pilot.press("left")
            await pilot.pause()
            await pilot.pause()
            assert app.screen.query_one("#tunnel-full", RadioButton).value
            assert not app.screen.query_one("#split-field").display

    run_async(go())
