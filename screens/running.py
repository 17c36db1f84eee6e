"""The running step: the SAs that are up (over vici) and charon's live log."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static
from textual.worker import get_current_worker

from screens.base import StepScreen
from screens.context import StepResult
from screens.widgets.logpane import LogPane
from wizard.fs import paths
from wizard.system.sastatus import CharonUnreachable, IkeSa, format_duration, list_sas


@dataclass
class SasUpdated(Message):
    sas: list[IkeSa] = field(default_factory=list)
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SasUpdated)


class RunningScreen(StepScreen):
    HELP = "running"
    SCROLL_BODY = False
    BINDINGS: ClassVar[list[Any]] = [
        Binding("q", "quit", "Quit"),
        # Nothing to go back to after the apply: keep the footer for the log's keys.
        Binding("escape", "back", "Back", show=False),
        Binding("ctrl+n", "next", "What next"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        services = self.ctx.services
        root = self.ctx.root
        self.log_path = services.log_path or root(paths.CHARON_LOG)
        self.vici_path = services.vici_path or root(paths.VICI_SOCKET)
        self.poll_interval = services.poll_interval
        self.sas: list[IkeSa] = []
        self.sa_error: str | None = None
        self.polls = 0
        self._stop = threading.Event()

    def body(self) -> ComposeResult:
        yield Static("Asking charon for its SAs…", id="sa-summary", markup=False)
        yield DataTable(id="sas", cursor_type="row", show_cursor=False)
        yield LogPane(self.log_path, id="log")

    def buttons(self) -> ComposeResult:
        yield Button("Quit", id="quit", compact=True)
        yield Button("What next", id="next", variant="primary", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#sas", DataTable)
        table.add_columns("Connection", "State", "Remote", "Identity", "Virtual IP", "Up", "Children")
        self.query_one("#log-view").focus()
        self._poll()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, group="vici")
    def _poll(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                self.post_message(SasUpdated(list_sas(self.vici_path)))
            except CharonUnreachable as exc:
                self.post_message(SasUpdated([], str(exc)))
            self._stop.wait(self.poll_interval)

    def on_sas_updated(self, message: SasUpdated) -> None:
        self.polls += 1
        self.sas, self.sa_error = message.sas, message.error
        summary = self.query_one("#sa-summary", Static)
        table = self.query_one("#sas", DataTable)
        table.clear()
        if message.error:
            summary.update(message.error if self.ctx.root.is_live else self._staged(message.error))
            return
        up = [sa for sa in message.sas if sa.state == "ESTABLISHED"]
        clients = {sa.remote_id for sa in up}
        summary.update(f"{len(message.sas)} IKE SAs ({len(up)} established), {len(clients)} clients connected"
                       if message.sas else "charon is running; no SAs are up (no client connected yet)")
        for sa in message.sas:
            children = ", ".join(f"{c.name} {c.state.lower()}" for c in sa.children) or "-"
            table.add_row(sa.label, sa.state, sa.remote_host, sa.remote_id, ", ".join(sa.virtual_ips) or "-",
                          format_duration(sa.established), children)

    @staticmethod
    def _staged(_error: str) -> str:
        # Under --root nothing is started (the error only says the socket is missing): say why, and what this
        # step shows on the live system. One line at 80 columns.
        return "--root: no charon runs. Live: connected clients here, charon's log below."

    def action_back(self) -> None:
        pane = self.query_one(LogPane)
        search = self.query_one("#log-search", Input)
        if search.has_focus:
            # Esc in the search box clears it and returns to the log.
            search.value = ""
            pane.view.focus()
            return
        self.notify("The setup is done. q or Ctrl+Q quits.", timeout=3)

    def action_next(self) -> None:
        self.dismiss(StepResult("next"))

    def action_quit(self) -> None:
        self.dismiss(StepResult("quit"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quit":
            self.action_quit()
