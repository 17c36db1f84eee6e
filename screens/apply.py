"""The apply step: the reviewed plan goes onto the system: key generation, each file, then starting strongSwan.

The plan is computed once more, against the disk as it is now (with apply's lock about to be taken),
and must match the reviewed one up to freshly generated key material; otherwise nothing is written
and the admin goes back to a fresh review.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Log, ProgressBar, Static

from screens.base import StepScreen
from screens.context import ApplyOutcome
from screens.messages import ApplyFinished
from wizard.fs.changes import file_changes, pending
from wizard.plan import shortlist, staging
from wizard.plan.apply import Held, apply, lock
from wizard.problems import Exit, WizardError


@dataclass
class ApplyProgress(Message):
    label: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ApplyProgress)


@dataclass
class ApplyLine(Message):
    text: str


@dataclass
class ApplyDone(Message):
    changed: int
    backup: str | None
    commands_run: int
    handouts: list[str] = field(default_factory=list)


@dataclass
class ApplyFailed(Message):
    problems: list[str]
    exit_code: int


class ApplyScreen(StepScreen):
    HELP = "apply"
    SCROLL_BODY = False
    NEXT_LABEL = "Show the running server"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = "running"  # running | done | failed
        self.failure_code = int(Exit.FAILED)

    def body(self) -> ComposeResult:
        where = "this system" if self.ctx.root.is_live else f"{self.ctx.root.path} (--root: nothing is started)"
        yield Static(f"Applying the plan to {where}", id="apply-title", markup=False)
        yield Static("Generating keys…", id="apply-stage", markup=False)
        yield ProgressBar(id="apply-progress", show_eta=False)
        yield Log(id="apply-log", max_lines=5000)
        yield Static("", id="apply-result", markup=False)

    def buttons(self) -> ComposeResult:
        yield Button("Back to review", id="back", compact=True, disabled=True)
        yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True, disabled=True)

    def on_mount(self) -> None:
        self._run()

    @work(thread=True, exclusive=True, group="apply", exit_on_error=False)
    def _run(self) -> None:
        say = self.post_message
        try:
            # The lock first: nothing may change the root between this plan and its last write.
            with lock(self.ctx.root, "is applying to (the terminal wizard)") as held:
                self._apply_under_lock(held)
        except WizardError as exc:
            say(ApplyFailed([str(p) for p in exc.problems], int(exc.exit_code)))
            return
        except OSError as exc:
            hint = " (run swan-wizard as root)" if exc.errno == errno.EACCES else ""
            say(ApplyFailed([f"{exc.filename or 'writing'}: {exc.strerror}{hint}",
                             "files written so far are listed above; the backup and journal let the next run "
                             "finish or roll back"], int(Exit.FAILED)))
            return
        except Exception as exc:  # reported on screen with the exit code of a failed step
            say(ApplyFailed([f"internal error: {exc!r}"], int(Exit.FAILED)))
            return

    def _apply_under_lock(self, held: Held) -> None:
        """Plan again under the lock and apply it, unless the plan differs from the reviewed one."""
        s = self.ctx.session
        assert s is not None, "the apply step comes after the welcome step"
        root = self.ctx.root
        say = self.post_message
        plan = staging.compute_plan(
            s.answers, root, mode=s.mode, ca_import=s.ca_import, base_dir=s.base_dir, typed=s.typed,
            progress=lambda stage, done, total: say(ApplyProgress(
                "generating keys" if stage == "keys" else "issuing certificates", done, total)))
        reviewed = self.ctx.reviewed
        changes = file_changes(plan, root)
        differences = staging.plan_differences(reviewed, plan, changes) if reviewed is not None else []
        if differences:
            say(ApplyFailed(["the system changed since the review; nothing was written:", *differences,
                             "Go back to the review to see the new plan."], int(Exit.FAILED)))
            return
        todo = pending(changes)
        total = len(todo) + (len(plan.commands) if root.is_live else 0)
        count = [0]
        # Ten thousand clients write 110,000 files: the log shows a screenful of client-folder lines and says
        # how many more, and the bar moves in at most 200 steps (a message per file kept the UI busy for long).
        lines = shortlist.FileLines(lambda line: say(ApplyLine(line)))
        step = max(1, -(-total // 200))

        def report(line: str) -> None:
            count[0] += 1
            lines(line)
            if line.startswith("$") or count[0] % step == 0 or count[0] >= total:
                say(ApplyProgress("writing files" if not line.startswith("$") else "starting strongSwan",
                                  count[0], max(total, 1)))

        # "Start over" and an imported CA are the admin's explicit choice to put other keys in place.
        try:
            result = apply(plan, root, run_commands=True, report=report, held=held,
                           replace_keys=s.mode == "start-over" or s.ca_import is not None)
        finally:
            lines.close()
        say(ApplyDone(len(result.changed), result.backup_id, len(result.commands_run),
                      shortlist.handouts(plan.handouts)))

    def on_apply_progress(self, message: ApplyProgress) -> None:
        self.query_one("#apply-stage", Static).update(f"{message.label}: {message.done}/{message.total}")
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_apply_line(self, message: ApplyLine) -> None:
        self.query_one(Log).write_line(message.text)

    def on_apply_done(self, message: ApplyDone) -> None:
        from wizard.plan import session

        self.state = "done"
        self.refresh_bindings()
        # Applied and saved: nothing is left to resume, even if the connection drops right now.
        session.discard(self.ctx.root)
        self._finished(int(Exit.OK))
        lines = [f"Applied {message.changed} changes" + (f"; backup {message.backup}" if message.backup else "")
                 if message.changed else "Nothing to change: the system already matches the answers."]
        if not self.ctx.root.is_live:
            lines.append("No service was started (--root is not the live system).")
        elif message.commands_run:
            lines.append(f"Ran {message.commands_run} commands: strongSwan is running with the new configuration.")
        lines += message.handouts
        self.query_one("#apply-stage", Static).update("Done.")
        self.query_one(ProgressBar).update(total=1, progress=1)
        self.query_one("#apply-result", Static).update(Text("\n".join(lines), style="bold green"))
        button = self.query_one("#next", Button)
        button.disabled = False
        button.focus()

    def on_apply_failed(self, message: ApplyFailed) -> None:
        self.state = "failed"
        self.refresh_bindings()
        self.failure_code = message.exit_code
        self._finished(message.exit_code)
        self.query_one("#apply-stage", Static).update("Failed.")
        self.query_one("#apply-result", Static).update(Text("\n".join(message.problems), style="bold red"))
        back = self.query_one("#back", Button)
        back.disabled = False
        back.focus()

    @property
    def writing(self) -> bool:
        return self.state == "running"

    def _finished(self, code: int) -> None:
        # Tell the app the files are written (or will not be): a hang-up that waited for this leaves now.
        self.app.post_message(ApplyFinished(code))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Esc goes back to the review only after a failed apply, like the Back button: never while files
        # are being written, and not after a finished one (its review is stale). The footer shows it then only.
        if action == "back":
            return self.state == "failed"
        return True

    def action_back(self) -> None:
        if self.state == "failed":
            self.dismiss(ApplyOutcome("goto", target="review", applied=False, exit_code=self.failure_code))

    def action_next(self) -> None:
        if self.state == "done":
            self.dismiss(ApplyOutcome("next", applied=True, exit_code=int(Exit.OK)))
