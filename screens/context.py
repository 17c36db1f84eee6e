"""What passes between the app and a step: the context a step is built from, the result it hands back.

Attributes go down (a step is constructed from a :class:`StepContext`), results go up (a step
``dismiss``-es a :class:`StepResult`, or the subclass that says what it decided; the app replaces the
whole answers value). Steps never read the app's state: what they need is a typed field here, and what
the app must hear while a step runs comes as a message (``screens.messages``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from screens.steps import Step
from wizard.fs.paths import Root

if TYPE_CHECKING:
    # Only for annotations: the answers model (pydantic) and the planner load after the first paint.
    from wizard.model.answers import Answers
    from wizard.plan.preflight import Report
    from wizard.plan.session import Session
    from wizard.plan.staging import Reviewed
    from wizard.system.netfacts import NetFacts

Go = Literal["next", "back", "goto", "quit", "stay"]
Probe = Callable[[Root], "Report"]  # the welcome step's checks of the system
NetProbe = Callable[[list[str]], "NetFacts"]  # the networking facts, given the DNS names to resolve


@dataclass(frozen=True)
class Services:
    """How the steps reach the machine, fixed when the app is built (tests put fakes here)."""

    probe: Probe
    net_probe: NetProbe | None = None  # None: the live host (wizard.system.netfacts.gather)
    log_path: Path | None = None  # charon's log; None: the one under the root
    vici_path: Path | None = None  # charon's vici socket; None: the one under the root
    poll_interval: float = 2.0  # seconds between two SA listings on the running step


@dataclass(frozen=True)
class StepContext:
    """Everything a step is built from."""

    key: str
    root: Root
    session: Session | None  # None only on the welcome step, before the admin chose how to begin
    steps: tuple[Step, ...]  # the steps shown in the step bar: a step's number is its place here
    services: Services
    report: Report | None = None
    reviewed: Reviewed | None = None  # the plan the admin confirmed on the review (the apply step's)

    @property
    def answers(self) -> Answers:
        assert self.session is not None, "the welcome step has no answers yet"
        return self.session.answers


@dataclass(frozen=True)
class StepResult:
    """Where to go: the whole result of a step that changed nothing."""

    go: Go
    target: str | None = None  # with go="goto"


@dataclass(frozen=True, kw_only=True)
class Began(StepResult):
    """The welcome step: the session to work on (new, resumed, modified, started over) and the checks."""

    session: Session
    report: Report


@dataclass(frozen=True, kw_only=True)
class SectionsEdited(StepResult):
    """A form step: the sections it edited, each a validated model."""

    changes: Mapping[str, Any] = field(default_factory=dict)  # section -> validated model
    typed: Mapping[str, str] = field(default_factory=dict)  # typed-secret key -> value, stored 0600 by the app
    session_changes: Mapping[str, Any] = field(default_factory=dict)  # e.g. ca_import


@dataclass(frozen=True, kw_only=True)
class Confirmed(StepResult):
    """The review step: the plan the admin confirmed, which the apply step must find again."""

    reviewed: Reviewed


@dataclass(frozen=True, kw_only=True)
class ApplyOutcome(StepResult):
    """The apply step: whether the plan is on the system now, and the exit code that says so."""

    applied: bool
    exit_code: int
