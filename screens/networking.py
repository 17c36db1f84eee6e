"""The networking step: checks of this host, forwarding, firewall backend, NAT and MSS clamping.

The facts are gathered once in a worker (psutil and /proc); the checks are pure functions of the facts
and the answers, so they are re-run as the fields change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Checkbox, Input, Static

from screens.forms import FormScreen
from screens.widgets.choice import Choice
from screens.widgets.field import Field, text_input
from screens.widgets.toggles import Check
from wizard.findings import Finding
from wizard.model.wording import on_screen

FIREWALLS: tuple[tuple[str, str], ...] = (
    ("auto (the active one)", "auto"), ("nftables", "nftables"), ("iptables", "iptables"),
    ("firewalld", "firewalld"), ("ufw", "ufw"), ("none: I manage it", "none"))
ESP: tuple[tuple[str, str], ...] = (
    ("auto", "auto"), ("kernel", "kernel"), ("userspace (kernel-libipsec)", "userspace"))
MARK = {"ok": "ok  ", "info": "info", "warning": "WARN", "error": "FAIL"}


@dataclass
class FactsGathered(Message):
    facts: Any  # wizard.system.netfacts.NetFacts


def findings_text(findings: list[Finding], staged: bool) -> str:
    where = ("Checks of THIS machine (the plan targets a staged root; the checks still describe the host "
             "you run on):" if staged else "Checks of this host:")
    lines = [where]
    for f in findings:  # in the screens' words: "WAN interface", not networking.wan_interface
        lines.append(f"[{MARK[f.severity]}] {f.check}: {on_screen(f.message)}")
        if f.fix and f.severity in ("warning", "error"):
            lines.append(f"        fix: {on_screen(f.fix)}")
    return "\n".join(lines)


def verdict_text(failed: list[Finding]) -> str:
    if not failed:
        return ""
    names = ", ".join(dict.fromkeys(f.check for f in failed))
    return (f"{len(failed)} check(s) FAIL ({names}): this server would not work as planned. "
            "Fix the answers below, or accept the failures explicitly.")


class NetworkingScreen(FormScreen):
    HELP = "networking"
    facts: Any = None
    findings: list[Finding] = []  # noqa: RUF012 -- replaced, never mutated

    def form(self) -> ComposeResult:
        n = self.ctx.answers.networking
        yield Field("", Check("IP forwarding (the article's sysctls)", value=n.forwarding, id="net-forwarding",
                              compact=True), field="networking.forwarding")
        yield Field("Firewall", Choice(FIREWALLS, n.firewall, id="net-firewall"), field="networking.firewall",
                    hint="Swan Wizard adds its own rules beside yours and can take them out again")
        yield Field("", Check("NAT: masquerade clients out of the WAN", value=n.nat, id="net-nat",
                              compact=True), field="networking.nat")
        yield Field("WAN interface", text_input(n.wan_interface, id="net-wan"), field="networking.wan_interface",
                    hint="auto: the default route's interface")
        yield Field("", Check("clamp TCP MSS (fixes sites that hang)", value=n.mss_clamp,
                              id="net-mss", compact=True), field="networking.mss_clamp")
        yield Field("ESP carried by", Choice(ESP, n.esp, id="net-esp"), field="networking.esp",
                    hint="auto: the kernel, or charon in userspace where the kernel has no ESP")
        # Above the fold: a FAIL that scrolled out of sight would pass unnoticed.
        yield Static("", id="net-verdict", classes="verdict", markup=False)
        yield Check("Apply despite the FAIL lines (recorded in the answers, shown on Review)",
                    value=bool(n.accept_failed_checks), id="net-accept", compact=True)
        yield Static("Checking this host…", id="findings", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#net-accept").display = False
        self._gather()

    @work(thread=True, exclusive=True, group="netfacts")
    def _gather(self) -> None:
        from wizard.model.answers import is_ip
        from wizard.system import netfacts

        a = self.ctx.answers
        names = [n for n in (a.server.address, *a.server.alt_names) if not is_ip(n)]
        gather = self.ctx.services.net_probe or netfacts.gather
        self.post_message(FactsGathered(gather(names)))

    def on_facts_gathered(self, message: FactsGathered) -> None:
        self.facts = message.facts
        self._show_findings()

    def revalidate(self) -> Any:
        checked = super().revalidate()
        self._show_findings()
        return checked

    def _show_findings(self) -> None:
        if self.facts is None or self.checked is None or self.checked.answers is None:
            return
        from wizard.checks import netchecks

        findings = netchecks.run_all(self.checked.answers, self.facts)
        self.findings = findings
        self.query_one("#findings", Static).update(findings_text(findings, not self.ctx.root.is_live))
        failed = [f for f in findings if f.severity == "error"]
        self.query_one("#net-verdict", Static).update(verdict_text(failed))
        self.query_one("#net-verdict").set_class(bool(failed), "-failed")
        accept = self.query_one("#net-accept", Checkbox)
        accept.display = bool(failed)
        # The tick covers the FAILs it was given for: a new one needs its own look (and a new tick).
        if accept.value and not {f.check for f in failed} <= set(self.checked.answers.networking.accept_failed_checks):
            accept.value = False

    def action_next(self) -> None:
        self.revalidate()
        if self.valid:
            if self.facts is None:
                self.notify("Still checking this host: a moment.", severity="warning", timeout=3)
                return
            if self.checked is not None and self.checked.answers is not None:
                from wizard.checks import netchecks

                blocking = netchecks.unaccepted(self.checked.answers, self.findings)
                if blocking:
                    self.query_one("#net-accept").focus()
                    self.notify(f"{len(blocking)} check(s) FAIL: fix them, or tick 'Apply despite the FAIL "
                                "lines' to go on with them recorded.", severity="error", timeout=8)
                    return
        super().action_next()

    def _accepted(self) -> list[str]:
        """The failed checks the admin accepts: exactly those failing now, and only while ticked."""
        if not self.query_one("#net-accept", Checkbox).value:
            return []
        if self.facts is None:  # not judged yet: keep what the answers recorded
            return list(self.ctx.answers.networking.accept_failed_checks)
        return sorted({f.check for f in self.findings if f.severity == "error"})

    def sections(self) -> dict[str, Any]:
        return {"networking": {
            "forwarding": self.query_one("#net-forwarding", Checkbox).value,
            "firewall": self.query_one("#net-firewall", Choice).value,
            "nat": self.query_one("#net-nat", Checkbox).value,
            "wan_interface": self.query_one("#net-wan", Input).value.strip() or "auto",
            "mss_clamp": self.query_one("#net-mss", Checkbox).value,
            "esp": self.query_one("#net-esp", Choice).value,
            "accept_failed_checks": self._accepted(),
        }}
