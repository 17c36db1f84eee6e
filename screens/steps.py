"""The wizard's steps, in order: the one list the app walks and the step bar shows.

A step names its screen as "module:Class", imported the first time it is shown, so starting the
wizard only imports the welcome screen. Whether a step is shown depends on the answers (the users step
only with a password variant), so a step's number is its place in :func:`visible`, never a constant.
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
    return bool(answers.variants.with_local_users())


@dataclass(frozen=True)
class Step:
    key: str
    title: str  # on the step bar's first line, for the current step
    short: str  # in the step bar's list of every step
    screen: str  # "module:Class"
    applies: Callable[[Answers], bool] = _always

    def load(self) -> type:
        module, _, name = self.screen.partition(":")
        return getattr(importlib.import_module(module), name)


STEPS: tuple[Step, ...] = (
    Step("welcome", "Welcome and checks", "Welcome", "screens.welcome:WelcomeScreen"),
    Step("ca", "Certificate authority", "CA", "screens.ca:CaScreen"),
    Step("host", "Host certificate", "Host", "screens.host:HostScreen"),
    Step("clients", "Clients", "Clients", "screens.clients:ClientsScreen"),
    Step("variants", "VPN variants", "Variants", "screens.variants:VariantsScreen"),
    Step("users", "Users", "Users", "screens.users:UsersScreen", has_user_variants),
    Step("addresses", "Addresses and DNS", "Addresses", "screens.addresses:AddressesScreen"),
    Step("networking", "Networking and firewall", "Network", "screens.networking:NetworkingScreen"),
    Step("review", "Review the plan", "Review", "screens.review:ReviewScreen"),
    Step("apply", "Apply", "Apply", "screens.apply:ApplyScreen"),
    Step("running", "Running server", "Running", "screens.running:RunningScreen"),
    Step("whatnext", "What next", "Next", "screens.whatnext:WhatNextScreen"),
)
KEYS = tuple(s.key for s in STEPS)
BY_KEY = {s.key: s for s in STEPS}
# Loaded in the background while the admin reads the welcome step's checks: the forms met first.
PRELOAD = ("ca", "host", "clients", "variants")
# Steps a session may be resumed at: anything before the apply (which needs a fresh review).
RESUMABLE = KEYS[:KEYS.index("apply")]


def visible(answers: Answers | None) -> tuple[Step, ...]:
    """The steps to show; before there are answers (welcome), those that always apply."""
    if answers is None:
        return tuple(s for s in STEPS if s.applies is _always)
    return tuple(s for s in STEPS if s.applies(answers))


def neighbour(key: str, answers: Answers, direction: int) -> str:
    """The next (direction 1) or previous (-1) step from ``key`` that applies to these answers."""
    index = KEYS.index(key)
    while 0 <= index + direction < len(STEPS):
        index += direction
        step = STEPS[index]
        if step.applies(answers):
            return step.key
    return key
