"""The review step: the plan (every file with its diff against the disk, every command) and saving the answers."""

from __future__ import annotations

import errno
import traceback
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from screens.base import StepScreen
from screens.context import Confirmed
from screens.widgets.field import Field, text_input
from wizard.findings import Finding
from wizard.fs.changes import Change, FileChange, Plan, file_changes, pending
from wizard.plan import session, staging
from wizard.plan.preview import describe_change
from wizard.problems import WizardError


@dataclass
class PlanProgress(Message):
    stage: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        # Only the latest progress matters: a queue of stale ones would only delay the redraw.
        return isinstance(message, PlanProgress)


@dataclass
class PlanReady(Message):
    plan: Plan
    changes: list[FileChange]
    open_problems: list[str]  # every open FAIL and warning, FAILs first: they head the review
    blocking: int  # FAILs the admin has not accepted: no Apply while there are any


@dataclass
class PlanFailed(Message):
    problems: list[str]


NOT_APPLIED = "Nothing was written: the plan was not applied. Review it, go back (Esc), or Apply again."
_HEAD = {Change.CREATE: "create", Change.UPDATE: "update", Change.MODE: "chmod ", Change.REMOVE: "remove",
         Change.UNCHANGED: "keep  "}


def diff_text(lines: list[str]) -> Text:
    text = Text()
    for line in lines:
        body = line[4:] if line.startswith("    ") else line
        style = ""
        if body.startswith(("+++", "---")):
            style = "bold"
        elif body.startswith("+"):
            style = "green"
        elif body.startswith("-"):
            style = "red"
        elif body.startswith("@@"):
            style = "cyan"
        elif not line.startswith("    "):
            style = "bold"
        text.append(line + "\n", style=style)
    return text


class ReviewScreen(StepScreen):
    HELP = "review"
    NEXT_LABEL = "Apply"
    SCROLL_BODY = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: Plan | None = None
        self.changes: list[FileChange] = []
        self.open_problems: list[str] = []
        self.blocking = 0
        self.shown: list[FileChange] = []
        self.head = Text()  # the summary above the plan, as on_plan_ready wrote it

    def body(self) -> ComposeResult:
        yield Static("Computing the plan…", id="summary", markup=False)
        yield ProgressBar(id="plan-progress", show_eta=False)
        with VerticalScroll(id="notes"):
            yield Static("", id="notes-text", markup=False)
        with Vertical(id="plan"):
            yield OptionList(id="files")
            with VerticalScroll(id="diff"):
                yield Static("", id="diff-text")
        default = str(self.ctx.root(session.SAVED_ANSWERS))
        yield Field("Save answers to", text_input(default, id="answers-path"), field="answers_path",
                    hint="replay later with: swan-wizard apply FILE")

    def buttons(self) -> ComposeResult:
        yield Button("Back", id="back", compact=True)
        yield Button("Save answers", id="save", compact=True)
        yield Button("Apply", id="next", variant="primary", compact=True, disabled=True)

    def on_mount(self) -> None:
        self._compute()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _compute(self) -> None:
        s = self.ctx.session
        try:
            assert s is not None, "the review comes after the welcome step"
            plan = staging.compute_plan(
                s.answers, self.ctx.root, mode=s.mode, ca_import=s.ca_import, base_dir=s.base_dir, typed=s.typed,
                progress=lambda stage, done, total: self.post_message(PlanProgress(stage, done, total)))
            changes = file_changes(plan, self.ctx.root)
            findings = self._findings()
        except WizardError as exc:
            self.post_message(PlanFailed([str(p) for p in exc.problems]))
            return
        except OSError as exc:  # e.g. not root on the live system: the CA key is 0600
            self.post_message(PlanFailed([f"cannot read {exc.filename or 'a file'}: {exc.strerror}"
                                          + (" (run swan-wizard as root)" if exc.errno == errno.EACCES else "")]))
            return
        except Exception as exc:  # shown, never swallowed: the admin must see why there is no plan
            self.post_message(PlanFailed([f"internal error: {exc!r}", *traceback.format_exc().splitlines()[-6:]]))
            return
        from wizard.checks import netchecks

        self.post_message(PlanReady(plan, changes, netchecks.open_lines(s.answers, findings, list(plan.warnings)),
                                    len(netchecks.unaccepted(s.answers, findings))))

    def _findings(self) -> list[Finding]:
        """The networking step's checks, run again on fresh facts: the review states what holds now."""
        from wizard.checks import netchecks
        from wizard.model.answers import is_ip
        from wizard.system import netfacts

        a = self.ctx.answers
        gather = self.ctx.services.net_probe or netfacts.gather
        return netchecks.run_all(a, gather([n for n in (a.server.address, *a.server.alt_names) if not is_ip(n)]))

    def on_plan_progress(self, message: PlanProgress) -> None:
        what = "generating keys" if message.stage == "keys" else f"{message.stage}"
        self.query_one("#summary", Static).update(f"Computing the plan: {what} {message.done}/{message.total}…")
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_plan_failed(self, message: PlanFailed) -> None:
        self.query_one(ProgressBar).display = False
        summary = self.query_one("#summary", Static)
        summary.update(Text("No plan: " + "\n".join(message.problems) +
                            "\nGo back and change the answers (Esc), or start over from the welcome screen.",
                            style="bold red"))

    def on_plan_ready(self, message: PlanReady) -> None:
        self.plan, self.changes = message.plan, message.changes
        self.query_one(ProgressBar).display = False
        todo = pending(self.changes)
        live = self.ctx.root.is_live
        if todo:
            summary = f"{len(todo)} files to change, {len(self.changes) - len(todo)} unchanged"
        else:
            summary = f"Nothing to change: all {len(self.changes)} files already match"
        summary += f"; {len(message.plan.commands)} commands" + ("" if live else " (not run: --root)")
        self.open_problems, self.blocking = message.open_problems, message.blocking
        head = Text()
        if message.blocking:
            head.append(f"{message.blocking} check(s) FAIL and are not accepted: go back to Networking and fix "
                        "or accept them. No Apply until then.\n", style="bold red")
        elif message.open_problems:
            head.append(f"{len(message.open_problems)} open problem(s), listed first below.\n", style="bold red")
        head.append(summary, style="bold")
        self.head = head
        self.query_one("#summary", Static).update(head)
        notes = message.open_problems + [f"note: {n}" for n in message.plan.notes]
        self.query_one("#notes-text", Static).update("\n".join(notes))
        self.query_one("#notes").display = bool(notes)
        # The commands first (what happens to the running system), then the files that change, then the
        # unchanged ones for reference; the pane below shows the highlighted entry.
        self.shown = todo + [c for c in self.changes if c.change is Change.UNCHANGED]
        files = self.query_one("#files", OptionList)
        files.clear_options()
        commands = f"{len(message.plan.commands)} commands" + (" to run" if live else " (not run: --root)")
        files.add_options([Option(commands, id="commands"),
                           *(Option(f"{_HEAD[c.change]} {c.action.mode:04o} {c.action.path}") for c in self.shown)])
        files.highlighted = 0
        self._show_entry(0)
        self.query_one("#next", Button).disabled = bool(message.blocking)
        files.focus()

    def _say_not_applied(self) -> None:
        """After Cancel (or Esc) in the confirm dialog: say so at the top, where the admin looks next."""
        head = self.head.copy()
        head.append("\n" + NOT_APPLIED, style="bold")
        self.query_one("#summary", Static).update(head)

    @on(OptionList.OptionHighlighted, "#files")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show_entry(event.option_index)

    def _show_entry(self, index: int) -> None:
        if self.plan is None:
            return
        if index == 0:
            live = self.ctx.root.is_live
            text = Text("Commands" + ("" if live else " (shown, not run with --root)") + ":\n", style="bold")
            for command in self.plan.commands:
                text.append(f"  $ {command}\n")
                text.append(f"      {command.why}\n", style="dim")
        elif 0 < index <= len(self.shown):
            text = diff_text(describe_change(self.shown[index - 1]))
        else:
            return
        self.query_one("#diff-text", Static).update(text)
        self.query_one("#diff", VerticalScroll).scroll_home(animate=False)

    def _answers_path(self) -> str:
        return self.query_one("#answers-path", Input).value.strip()

    def _save(self) -> bool:
        try:
            saved = session.save_answers(self.ctx.answers, self._answers_path())
        except (WizardError, OSError) as exc:
            self.notify(str(exc), title="Answers not saved", severity="error", timeout=10)
            return False
        self.notify(f"Answers saved to {saved}", timeout=5)
        return True

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self._save()

    def action_next(self) -> None:
        if self.plan is None or self.blocking:
            return
        from screens.dialogs import ConfirmScreen

        todo = pending(self.changes)
        where = "this system" if self.ctx.root.is_live else str(self.ctx.root.path)
        problems = "".join(f"{line}\n" for line in self.open_problems)
        detail = (problems + ("\n" if problems else "")
                  + f"{len(todo)} files change under {where}; every replaced file is first copied to "
                  f"/var/lib/swan-wizard/backups/. {len(self.plan.commands)} commands "
                  + ("run." if self.ctx.root.is_live else "are not run (--root).")
                  + f"\nThe answers are saved to {self._answers_path()}.")

        def confirmed(yes: bool | None) -> None:
            if yes and self.plan is not None and self._save():
                self.dismiss(Confirmed("next", reviewed=staging.reviewed(self.plan, self.changes)))
            elif not yes:
                self._say_not_applied()

        question = (f"Apply this plan with {len(self.open_problems)} open problem(s)?" if self.open_problems
                    else "Apply this plan?")
        # As installers do (subiquity): Enter applies a plan with nothing open; with open problems, listed
        # above, it cancels, so going on takes a deliberate choice.
        self.app.push_screen(ConfirmScreen(question, detail, yes="Apply", default_yes=not self.open_problems),
                             confirmed)
