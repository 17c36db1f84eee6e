"""The first step: welcome and preflight checks, then how to begin (new, resume, modify, start over)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from screens.base import StepScreen
from screens.context import Began, StepResult
from wizard.problems import InvalidAnswers

if TYPE_CHECKING:
    from wizard.model.answers import Answers
    from wizard.plan.preflight import Report

INTRO = ("Swan Wizard sets up a strongSwan IPsec VPN server the way the Arch Wiki article describes it: "
         "a CA, host and client certificates, the VPN connections, forwarding and a running charon. "
         "Nothing on the system changes before you confirm the plan on the Review screen.")


def default_answers(report: Report | None = None) -> Answers:
    """Fresh answers: the defaults, with the detected address as the name clients dial."""
    from wizard.model.answers import Answers, Server

    address = report.detected.address if report and report.detected.address else "vpn.example.com"
    return Answers(server=Server(address=address))


@dataclass
class PreflightDone(Message):
    report: Report


class WelcomeScreen(StepScreen):
    HELP = "welcome"
    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "back", "Back", show=False)]  # the first step
    report: Report | None = None

    def body(self) -> ComposeResult:
        yield Static(INTRO, id="intro", markup=False)
        yield Static("Checking the system…", id="checks", markup=False)
        yield Static("How do you want to begin?", classes="section-title", markup=False)
        yield OptionList(id="choices")

    def buttons(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()
        if self.ctx.report is not None:
            self._show(self.ctx.report)
        else:
            # After the first paint: the checks' imports and `charon --version` must not delay it.
            self.call_after_refresh(self._probe)

    @work(thread=True, exclusive=True, group="preflight")
    def _probe(self) -> None:
        self.post_message(PreflightDone(self.ctx.services.probe(self.ctx.root)))
        # While the admin reads the checks, load what the next steps need (the answers model, the forms),
        # so the first screen did not have to wait for it and the next one does not either.
        from screens import steps

        for key in steps.PRELOAD:
            steps.BY_KEY[key].load()
        import wizard.model.field_check  # noqa: F401

    def on_preflight_done(self, message: PreflightDone) -> None:
        self._show(message.report)

    def _show(self, report: Report) -> None:
        self.report = report
        self.query_one("#checks", Static).update(checks_text(report))
        choices = self.query_one("#choices", OptionList)
        choices.clear_options()
        choices.add_options([Option(label, id=key) for key, label in choice_list(report)])
        choices.highlighted = 0

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.choose(event.option.id or "")

    def choose(self, choice: str) -> None:
        from wizard.model import answers_file
        from wizard.plan import session

        report = self.report
        if report is None:
            return  # the checks have not finished; the choices are not shown yet either
        if choice == "quit":
            self.dismiss(StepResult("quit"))
        elif choice == "install":
            self._install()
        elif choice == "resume":
            try:
                resumed = session.load(self.ctx.root)
            except InvalidAnswers as exc:
                self.notify("\n".join(str(p) for p in exc.problems), title="Cannot resume", severity="error")
                return
            from screens.steps import RESUMABLE

            target = resumed.step if resumed.step in RESUMABLE and resumed.step != "welcome" else "ca"
            self.dismiss(Began("goto", target=target, session=resumed, report=report))
        elif choice == "modify":
            assert report.existing.answers_file is not None
            try:
                answers = answers_file.load(report.existing.answers_file)
            except InvalidAnswers as exc:
                self.notify("\n".join(str(p) for p in exc.problems), title="Cannot load the answers",
                            severity="error", timeout=15)
                return
            try:
                answers, moved, typed = session.externalize_literals(answers)
            except ValueError as exc:
                self.notify(str(exc), title="Cannot keep the answers' passwords", severity="error", timeout=15)
                return
            if moved:
                self.notify(f"{len(moved)} plaintext secrets of the answers file ({', '.join(moved)}) are now kept "
                            "as typed secrets; the answers only reference them", timeout=15)
            fresh = session.Session(answers=answers, step="ca", mode="modify",
                                    base_dir=str(report.existing.answers_file.parent), typed=typed)
            self.dismiss(Began("next", session=fresh, report=report))
        elif choice in ("new", "start-over"):
            mode: session.Mode = "start-over" if choice == "start-over" else "new"
            fresh = session.Session(answers=default_answers(report), step="ca", mode=mode)
            self.dismiss(Began("next", session=fresh, report=report))

    def _install(self) -> None:
        from screens.dialogs import CommandScreen, ConfirmScreen

        command = self.report.install_command if self.report else None
        if command is None:
            return

        def ran(_code: int | None) -> None:
            self.query_one("#checks", Static).update("Checking the system again…")
            self._probe()

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(CommandScreen(command, "Installing strongSwan"), ran)

        self.app.push_screen(ConfirmScreen(
            "Install strongSwan with the package manager?", "This runs, as it reads:\n\n  " + " ".join(command),
            yes="Run it"), confirmed)

    def action_back(self) -> None:
        self.notify("This is the first step. Ctrl+Q quits.", timeout=3)

    def action_next(self) -> None:
        highlighted = self.query_one("#choices", OptionList).highlighted_option
        if highlighted is not None and highlighted.id:
            self.choose(highlighted.id)


def _mark(ok: bool | None) -> tuple[str, str]:
    if ok is None:
        return ("  • ", "")
    return ("  ✓ ", "green") if ok else ("  ✗ ", "red")


def checks_text(report: Report) -> Text:
    lines: list[tuple[bool | None, str]] = []
    if report.is_root:
        lines.append((True, "running as root"))
    elif report.live:
        lines.append((False, "not root: applying to / needs root (sudo swan-wizard, or --root DIR to stage)"))
    else:
        lines.append((None, "not root: fine for --root, files are written under it"))
    if report.strongswan_ok:
        lines.append((True, f"strongSwan {report.strongswan_version} with swanctl"))
    elif report.strongswan_version:
        lines.append((False, f"strongSwan {report.strongswan_version}, but swanctl is missing"))
    else:
        cmd = report.install_command
        lines.append((False, "strongSwan is not installed" + (f" (offer: {' '.join(cmd[:2])} …)" if cmd else "")))
    if report.systemd:
        lines.append((True, "systemd: strongSwan runs as strongswan.service"))
    else:
        lines.append((None, "no systemd: charon will be started directly"))
    if not report.live:
        lines.append((None, f"--root {report.root}: files go there, no service is started"))
    ex = report.existing
    if ex.answers_file:
        lines.append((None, f"saved answers: {ex.answers_file}"))
    if ex.material:
        lines.append((None, f"existing Swan Wizard files: {len(ex.material)} (e.g. {ex.material[0]})"))
    if ex.session:
        if ex.session.problem:
            lines.append((False, f"a session cannot be resumed: {ex.session.problem}"))
        else:
            lines.append((None, f"interrupted session at step '{ex.session.step}' (saved {ex.session.saved})"))
    if ex.interrupted_apply:
        lines.append((False, "an earlier apply was interrupted; applying again finishes it"))
    text = Text()
    for ok, line in lines:
        mark, style = _mark(ok)
        text.append(mark, style=style)
        text.append(line + "\n")
    return text


def choice_list(report: Report) -> list[tuple[str, Any]]:
    ex = report.existing
    out: list[tuple[str, Any]] = []
    if ex.session and not ex.session.problem:
        out.append(("resume", f"Resume where you stopped (step '{ex.session.step}')"))
    if ex.answers_file:
        out.append(("modify", "Modify the existing configuration (start from the saved answers)"))
    if ex.material:
        out.append(("start-over", "Start over: new keys; every replaced file is backed up first"))
        out.append(("new", "New setup, reusing the existing keys where they fit"))
    else:
        out.append(("new", "Start a new setup"))
    if not report.strongswan_ok and report.install_command:
        out.append(("install", "Install strongSwan: " + " ".join(report.install_command)))
    out.append(("quit", "Quit"))
    return out
