"""The Swan Wizard terminal app: walks the steps, owns the answers, saves the session after each step.

One factory (:func:`create_app`) builds the app for the CLI (``swan-wizard`` without a command, see
``wizard.cli.cmd_tui``) and for the tests. Each step screen is built from a typed context and dismisses
with a typed result (``screens.context``): a form step with the sections it edited, which the app puts into
a validated copy of the whole answers (``wizard.model.answers.updated``); the app keeps typed secrets in
the session (in memory; ``wizard.plan.session`` says what is kept on disk), saves it, and shows the next step
that applies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding

from screens import ASSETS, steps
from screens.base import StepScreen
from screens.context import (
    ApplyOutcome,
    Began,
    Confirmed,
    NetProbe,
    Probe,
    SectionsEdited,
    Services,
    StepContext,
    StepResult,
)
from screens.messages import ApplyFinished
from wizard.fs.paths import Root
from wizard.problems import Exit, InvalidAnswers

if TYPE_CHECKING:
    # The answers model and the session code load after the first screen is up (see WelcomeScreen).
    from wizard.plan.preflight import Report
    from wizard.plan.session import Session
    from wizard.plan.staging import Reviewed


class SwanWizardApp(App[int]):
    TITLE = "Swan Wizard"
    CSS_PATH = ASSETS / "app.tcss"
    # The command palette's ctrl+p would be one more thing to explain; every action has its own key.
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[Any]] = [Binding("ctrl+q", "quit_wizard", "Quit", priority=True)]
    # Screens get -wide / -tall classes: the review shows files and diff side by side, the log gets more rows.
    # Textual declares these "ClassVar[...] | None", which type checkers read as instance variables.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]  # type: ignore[misc]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (40, "-tall")]  # type: ignore[misc]

    def __init__(self, root: Root, services: Services, *, start: str = "welcome", session: Session | None = None,
                 report: Report | None = None, handle_hangup: bool = False) -> None:
        super().__init__()
        self.services = services
        self.handle_hangup = handle_hangup
        self.hung_up = False
        self.root = root
        self.report = report
        if session is None and start != "welcome":
            from screens.welcome import default_answers
            from wizard.plan.session import Session

            session = Session(answers=default_answers(report), step=start)
        self.session: Session | None = session  # None until the welcome step says how to begin
        self.start_step = start
        self.step_key = start
        self.reviewed_plan: Reviewed | None = None
        self.applied = False
        self.saved_session: Path | None = None
        self.exit_code = int(Exit.OK)
        # Less redraw traffic over SSH and on slow links: no scroll or focus animations.
        self.animation_level = "none"

    # -- flow -------------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.handle_hangup:
            import asyncio
            import signal

            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)
        self.show_step(self.start_step)

    @property
    def applying(self) -> bool:
        """Whether files are being written right now (quitting would leave half an apply behind)."""
        return isinstance(self.screen, StepScreen) and self.screen.writing

    def hang_up(self) -> None:
        """The SSH connection dropped. The session was saved when the last step ended, so the next
        ``swan-wizard`` offers to resume; an apply that is writing files is let finish first."""
        self.hung_up = True
        if self.applying:
            return  # the apply step posts ApplyFinished when its worker reports back
        self.exit(self.exit_code)

    def on_apply_finished(self, message: ApplyFinished) -> None:
        # Quitting from here on (Ctrl+Q on a failed apply) leaves with the apply's result. A terminal that
        # went away while files were being written leaves now.
        self.exit_code = message.exit_code
        if self.hung_up:
            self.exit(message.exit_code)

    def context(self, key: str) -> StepContext:
        shown = steps.visible(self.session.answers if self.session else None)
        return StepContext(key=key, root=self.root, session=self.session, steps=shown, services=self.services,
                           report=self.report, reviewed=self.reviewed_plan)

    def show_step(self, key: str) -> None:
        self.step_key = key
        screen_class = steps.BY_KEY[key].load()
        self.push_screen(screen_class(self.context(key)), callback=self._on_result)

    def _on_result(self, result: StepResult | None) -> None:
        if result is None:
            return
        before = self.session
        try:
            self._take(result)
            if result.go == "quit":
                self.exit(self.exit_code)
                return
            if result.go == "stay":
                target = self.step_key
            elif result.go == "goto" and result.target:
                target = result.target
            else:
                assert self.session is not None
                target = steps.neighbour(self.step_key, self.session.answers, 1 if result.go == "next" else -1)
            self._save(target)
        except (InvalidAnswers, ValueError, OSError) as exc:
            # A typed secret that cannot be stored, or a session that cannot be saved (e.g. it would hold a
            # literal password from a hand-written answers file): say so and stay on this step.
            self.session = before
            self.notify(f"{exc}", title="Could not save", severity="error", timeout=10)
            self.show_step(self.step_key)
            return
        self.show_step(target)

    def _take(self, result: StepResult) -> None:
        if isinstance(result, Began):
            self.session, self.report = result.session, result.report
        elif isinstance(result, SectionsEdited):
            self._take_edits(result)
        elif isinstance(result, Confirmed):
            self.reviewed_plan = result.reviewed
        elif isinstance(result, ApplyOutcome):
            if result.applied:
                from wizard.plan import session as sessions

                # The answers file is saved and the system matches it: nothing is left to resume. Apply
                # wrote the typed secrets to their own files: the session's copies go.
                self.applied = True
                sessions.discard(self.root)
                if self.session is not None:
                    self.session = dataclasses.replace(self.session, typed={})
                self.saved_session = None
            self.exit_code = result.exit_code

    def _take_edits(self, result: SectionsEdited) -> None:
        from wizard.model.answers import updated
        from wizard.plan import session as sessions

        assert self.session is not None, "a step after the welcome always has a session"
        if result.changes:
            self.session = dataclasses.replace(self.session, answers=updated(self.session.answers, **result.changes))
        if result.session_changes:
            self.session = dataclasses.replace(self.session, **result.session_changes)
        # In memory, with only what the answers still reference: a deleted user's password goes here.
        self.session = sessions.with_typed(self.session, result.typed)

    def _save(self, target: str) -> None:
        """Save the session after every step, pointing at the step to come back to."""
        if self.applied or target == "welcome" or self.session is None:
            return
        from wizard.plan import session as sessions

        resume_at = target if target in steps.RESUMABLE else "review"
        self.session = dataclasses.replace(self.session, step=resume_at)
        self.saved_session = sessions.save(self.root, self.session)

    def _fatal_error(self) -> None:
        """An unhandled exception: close without Textual's traceback, which shows local variables (typed
        passwords among them) on the terminal. ``run`` writes a scrubbed crash report instead."""
        self.bell()
        self._close_messages_no_wait()

    def action_quit_wizard(self) -> None:
        if self.applying:
            self.notify("Files are being written: wait for the apply to finish.", severity="warning", timeout=5)
            return
        self.exit(self.exit_code)


def _preflight(root: Root) -> Report:
    # Imported here, in the welcome step's worker thread: it pulls in the session and answers code.
    from wizard.plan import preflight

    return preflight.run(root)


def create_app(root: str | Path | None = None, *, probe: Probe | None = None, start: str = "welcome",
               session: Session | None = None, report: Report | None = None,
               log_path: str | Path | None = None, vici_path: str | Path | None = None,
               poll_interval: float = 2.0, handle_hangup: bool = False,
               net_probe: NetProbe | None = None) -> SwanWizardApp:
    """The one way to build the app: the CLI and the tests both come through here."""
    services = Services(probe=probe or _preflight, net_probe=net_probe,
                        log_path=Path(log_path) if log_path else None,
                        vici_path=Path(vici_path) if vici_path else None, poll_interval=poll_interval)
    return SwanWizardApp(Root.of(root), services, start=start, session=session, report=report,
                         handle_hangup=handle_hangup)


def run(root: str | Path | None = None) -> int:
    """Run the wizard in this terminal; returns the exit code for ``swan-wizard``."""
    app = create_app(root, handle_hangup=True)
    code = app.run()
    # Textual returns from run() after an unhandled exception (return code 1, the exception kept): that is
    # a crash, never a normal exit.
    error = getattr(app, "_exception", None)
    if error is not None or (app.return_code or 0) != 0:
        from textual.worker import WorkerFailed

        from wizard import crash

        if isinstance(error, WorkerFailed):  # name what failed in the worker, not the wrapper
            error = error.error
        failure = error if error is not None else RuntimeError(f"the terminal UI ended with code {app.return_code}")
        return int(crash.handle(failure, sys.argv[1:], Root.of(root) if root else None))
    from wizard.plan.handout import exit_summary

    saved = app.saved_session if app.saved_session is not None and app.saved_session.exists() else None
    # A terminal that went away (a dropped SSH session) cannot be told: the saved session and files say it all.
    with contextlib.suppress(OSError):
        print("\n".join(exit_summary(app.session.answers if app.session else None, app.root, app.applied, saved)))
    return int(code if code is not None else app.exit_code)
