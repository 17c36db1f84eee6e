"""The terminal UI with many clients: typing in a dialog stays responsive (the answers are checked when the
typing pauses, not on every key), and what is accepted is still checked in full."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from test_tui_flow import review_and_apply
from test_tui_screens import field_message
from test_tui_support import fake_netfacts, fake_report, fill, probe_with, run_async, wait_screen

from screens import forms
from screens.app import create_app
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan import session


def _answers(clients: int) -> Any:
    listed = "\n".join(f"  - {{name: c{i:05d}@example.com, key: ecdsa-p256}}" for i in range(clients))
    return answers_file.parse(f"version: 1\nserver: {{address: vpn.example.com}}\nca: {{key: ecdsa-p256}}\n"
                              f"host: {{key: ecdsa-p256}}\nclients:\n{listed}\nvariants: {{ikev2-cert: {{}}}}\n")


def _app(root: Path, clients: int) -> Any:
    return create_app(root, net_probe=fake_netfacts, probe=probe_with(), start="clients",
                      session=session.Session(answers=_answers(clients), step="clients"),
                      report=fake_report(Root.of(root)))


def _count_checks(monkeypatch: Any) -> list[int]:
    calls: list[int] = []
    real = forms.FormMixin.revalidate

    def counted(self: Any) -> Any:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(forms.FormMixin, "revalidate", counted)
    return calls


def test_with_many_clients_a_dialog_checks_once_typing_pauses(monkeypatch: Any) -> None:
    calls = _count_checks(monkeypatch)

    async def go() -> None:
        app = _app(Path(tempfile.mkdtemp()), forms.LARGE_ANSWERS)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ClientsScreen")
            await pilot.press("a")
            await wait_screen(pilot, "ClientDialog")
            calls.clear()
            await fill(pilot, "#client-name", "bad name")
            assert len(calls) <= 1  # not one per key
            await pilot.pause(forms.TYPING_PAUSE * 2)
            assert calls and "may only hold" in field_message(app, "client-name")
            # OK before any pause: checked at once, refused
            await fill(pilot, "#client-name", "c00001@example.com")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert type(app.screen).__name__ == "ClientDialog"
            assert "there is already a client" in field_message(app, "client-name")

    run_async(go())


def test_with_few_clients_every_key_is_checked(monkeypatch: Any) -> None:
    calls = _count_checks(monkeypatch)

    async def go() -> None:
        app = _app(Path(tempfile.mkdtemp()), 3)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ClientsScreen")
            await pilot.press("a")
            await wait_screen(pilot, "ClientDialog")
            calls.clear()
            await fill(pilot, "#client-name", "bad name")
            assert len(calls) >= len("bad name")
            assert "may only hold" in field_message(app, "client-name")

    run_async(go())


def test_a_long_list_is_narrowed_by_typing_and_edits_the_row_shown() -> None:
    from textual.widgets import DataTable, Input

    async def go() -> None:
        app = _app(Path(tempfile.mkdtemp()), forms.FILTER_FROM + 10)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ClientsScreen")
            box = app.screen.query_one("#list-filter", Input)
            assert box.display
            await pilot.press("slash")
            assert app.screen.focused is box
            await fill(pilot, "#list-filter", "C00017")  # any case
            await pilot.pause()
            table = app.screen.query_one(DataTable)
            assert table.row_count == 1 and str(table.get_row_at(0)[0]) == "c00017@example.com"
            await pilot.press("enter")
            assert app.screen.focused is table
            await pilot.press("e")
            await wait_screen(pilot, "ClientDialog")
            assert app.screen.query_one("#client-name", Input).value == "c00017@example.com"
            await pilot.press("escape")
            await wait_screen(pilot, "ClientsScreen")
            await pilot.press("delete")
            await pilot.pause()
            names = [c.name for c in app.screen.clients]
            assert "c00017@example.com" not in names and len(names) == forms.FILTER_FROM + 9
            assert table.row_count == 0  # the filter still applies: nothing else matches

    run_async(go())


def test_a_short_list_has_no_filter_line() -> None:
    from textual.widgets import Input

    async def go() -> None:
        app = _app(Path(tempfile.mkdtemp()), 3)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ClientsScreen")
            assert not app.screen.query_one("#list-filter", Input).display

    run_async(go())


def test_the_apply_log_of_many_clients_is_a_screenful(monkeypatch: Any) -> None:
    """Past the first client-folder lines the log says how many more files were written, the result how many
    more PKCS#12 passwords were made; the progress bar gets a bounded number of updates, not one per file."""
    from textual.widgets import Log

    from screens import apply as apply_screen
    from wizard.plan import shortlist

    monkeypatch.setattr(shortlist, "SHOWN", 5)
    progress: list[bool] = []
    real_progress = apply_screen.ApplyProgress.__init__

    def counted(self: Any, label: str, *args: Any, **kwargs: Any) -> None:
        progress.append(label == "writing files")
        real_progress(self, label, *args, **kwargs)

    monkeypatch.setattr(apply_screen.ApplyProgress, "__init__", counted)
    root = Path(tempfile.mkdtemp())

    async def go() -> None:
        app = _app(root, 30)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ClientsScreen")
            for step in ("VariantsScreen", "AddressesScreen", "NetworkingScreen"):
                await pilot.press("ctrl+n")
                await wait_screen(pilot, step)
            await review_and_apply(pilot)
            log = list(app.screen.query_one(Log).lines)
            result = str(app.screen.query_one("#apply-result").render())
        written = sum(1 for p in Root.of(root)(paths.CLIENTS_DIR).rglob("*") if p.is_file())
        assert sum(f" {paths.CLIENTS_DIR}/" in line for line in log) == 5
        assert f"... and {written - 5:,} more files in client folders" in "\n".join(log)
        assert result.count("PKCS#12 password for ") == 5 and "... and 25 more clients" in result
        assert 100 <= sum(progress) <= 200 < written

    run_async(go())
