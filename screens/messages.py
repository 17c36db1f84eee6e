"""What a step tells the app while it runs (results come only when it ends: ``screens.context``)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class ApplyFinished(Message):
    """The apply step stopped writing, done or failed: a hang-up that waited for it may leave now."""

    exit_code: int
