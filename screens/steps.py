"""The wizard's steps, in order: the one list the app walks and the step bar shows.

A step names its screen as "module:Class", imported the first time it is shown, so starting the
wizard only imports the welcome screen. A step whose screen is None is a reserved slot: it is skipped
and not shown until a screen fills it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wizard.model.answers import Answers


def _always(_answers: Answers) -> bool:
    return True


def has_user_variants(answers: Answers) -> bool:
    v = answers.variants
    return any(x is not None for x in (v.ikev2_eap, v.ikev1_xauth, v.l2tp))


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    screen: str | None
    applies: Callable[[Answers], bool] = _always

    @property
    def available(self) -> bool:
        return self.screen is not None

    def load(self) -> type:
        assert self.screen is not None, f"step {self.key} has no screen yet"
        module, _, name = self.screen.partition(":")
        return getattr(importlib.import_module(module), name)


STEPS: tuple[Step, ...] = (
    Step("welcome", "Welcome and checks", "screens.welcome:WelcomeScreen"),
    Step("ca", "Certificate authority", "screens.ca:CaScreen"),
    Step("host", "Host certificate", "screens.host:HostScreen"),
    Step("clients", "Clients", "screens.clients:ClientsScreen"),
    Step("variants", "VPN variants", "screens.variants:VariantsScreen"),
    Step("users", "Users", "screens.users:UsersScreen", has_user_variants),
    Step("addresses", "Addresses and DNS", "screens.addresses:AddressesScreen"),
    Step("networking", "Networking and firewall", "screens.networking:NetworkingScreen"),
    Step("review", "Review the plan", "screens.review:ReviewScreen"),
    Step("apply", "Apply", "screens.apply:ApplyScreen"),
    Step("running", "Running server", "screens.running:RunningScreen"),
)
KEYS = tuple(s.key for s in STEPS)
BY_KEY = {s.key: s for s in STEPS}
# Steps a session may be resumed at: anything before the apply (which needs a fresh review).
RESUMABLE = KEYS[:KEYS.index("apply")]


def visible(answers: Answers | None) -> tuple[Step, ...]:
    """The steps to show; before there are answers (welcome), those that always apply."""
    if answers is None:
        return tuple(s for s in STEPS if s.available and s.applies is _always)
    return tuple(s for s in STEPS if s.available and s.applies(answers))


def neighbour(key: str, answers: Answers, direction: int) -> str:
    """The next (direction 1) or previous (-1) step from ``key`` that applies to these answers."""
    index = KEYS.index(key)
    while 0 <= index + direction < len(STEPS):
        index += direction
        step = STEPS[index]
        if step.available and step.applies(answers):
            return step.key
    return key
