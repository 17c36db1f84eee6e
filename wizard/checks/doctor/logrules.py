"""charon's failure messages, what causes them, how to fix them, and a fast scanner for large logs.

The rule table follows the shared reference (strongswan.md §6). Each rule names the exact message
starts charon 5.9.8 logs (checked against the installed binaries' format strings and, where a test
can make the failure happen, against lines real charons wrote in ``tests/test_doctor_lab.py``; the
fixtures under ``tests/data/logs/`` say which is which).

Speed: a log of hundreds of megabytes is scanned with one compiled regular expression over large
chunks, never a Python loop per line. Every message of interest sits right after the line prefix
(``09[IKE1] <conn|3> ``), so the pattern is ``"] " + optional "<tag> " + one of the message starts``,
with the message starts folded into a trie: the regex engine's C loop rejects almost every position
after a few bytes, and Python only sees the few lines that matched. Rules that need more (a message
ID, an identity) refine the matched line with their own small regex.
"""

from __future__ import annotations

import mmap
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wizard.findings import Severity

Origin = Literal["lab", "reference"]


@dataclass(frozen=True)
class LogRule:
    code: str
    title: str
    prefixes: tuple[str, ...]  # message starts, as charon logs them after the "[IKE1] <conn|1> " prefix
    severity: Severity  # when it happened since the last charon start / configuration load
    cause: str
    fix: str
    ref: str  # the row(s) of strongswan.md §6
    origin: Origin  # fixtures from real daemons in the lab, or the reference's exact strings
    refine: str | None = None  # a regex the message must also match (its named groups become details)
    needs_context: str | None = None  # a context line that must precede it in the same IKE_SA
    unless_context: tuple[str, ...] = ()  # context lines that must not precede it in the same IKE_SA
    uses: tuple[str, ...] = ()  # context lines (CONTEXTS values) shown with it as evidence and details
    # A line this rule takes is not offered to the later rules that share its message start.
    claims: bool = False
    # Message starts that need a regex (their literal start also begins ordinary lines, which would cost a
    # Python call each): matched by the engine itself, in the one combined pattern.
    patterns: tuple[str, ...] = ()


# Lines that are not failures themselves but explain one that follows in the same IKE_SA.
CONTEXTS: dict[str, str] = {
    "received proposals:": "received-proposals",
    "looking for peer configs matching": "peer-configs",
    "no issuer certificate found for": "no-issuer",
    "received end entity cert": "peer-cert",
    # charon tries a certificate for the peer's identity only when the certificate carries that identity:
    # "using certificate" (or a failure of its chain) says it was tried.
    "  using certificate ": "cert-used",
    "  using trusted certificate ": "cert-used",
    "certificate was revoked on": "cert-used",
    "peer requested EAP, config unacceptable": "eap-requested",
    "received netlink error:": "netlink-error",
    "retransmit ": "retransmit",
    "subject certificate invalid": "cert-invalid",
    # eap-radius: RADIUS decided (an EAP failure after it is RADIUS's refusal, not a local user's)
    "RADIUS authentication of ": "radius-auth",
    "sending RADIUS Accounting-Request": "radius-acct",
    # kernel-libipsec's own words (kernel-netlink says neither): charon already carries ESP in userspace.
    "error installing route with policy": "libipsec-route",
    "no local address found in traffic selector": "no-local-address",  # knl 2 only
}
CONTEXT_REFINE: dict[str, re.Pattern[str]] = {
    "peer-cert": re.compile(r'received end entity cert "(?P<cert>[^"]*)"'),
    "retransmit": re.compile(r"retransmit \d+ of request with message ID (?P<mid>\d+)"),
    "libipsec-route": re.compile(r"error installing route with policy (?P<ts>\S+) === "),
    "no-local-address": re.compile(r"no local address found in traffic selector (?P<ts>\S+)"),
}

# The daemon (re)started or its connections were (re)loaded: failures before this may be fixed already.
EPOCHS = ("Starting IKE charon daemon", "added vici connection:", "replaced vici connection:",
          "updated vici connection:", "added configuration '")
SUCCESS_PATTERN = r"IKE_SA [^\s\[]+\[\d+\] established between"

RULES: tuple[LogRule, ...] = (
    LogRule(
        "no-ike-config", "no connection accepts the address the client sent to",
        ("no IKE config found for",), "error",
        "No connection's local_addrs/remote_addrs match the packet's addresses: typical on a cloud VM whose "
        "public IP is NATed to a private one while local_addrs (ipsec.conf left=) names the public IP.",
        "Keep local_addrs = %any (Swan Wizard's default) and express the public name only in the identity "
        "(server.address); then re-run `swan-wizard apply`.",
        "§6 row 1", "lab"),
    LogRule(
        "ike-proposal-mismatch", "IKE proposals do not match (NO_PROPOSAL_CHOSEN)",
        ("received proposals unacceptable", "received NO_PROPOSAL_CHOSEN notify error"), "warning",
        "The client offered no IKE algorithm combination the server accepts. Classic case: Windows' built-in "
        "client offers only MODP-1024 (DH group 2), which strongSwan 5.9 excludes as weak.",
        "Make the client offer a modern suite (Windows: run the generated .ps1, it calls "
        "Set-VpnConnectionIPsecConfiguration) rather than weakening the server; custom server proposals: "
        "set proposals: modern and re-run `swan-wizard apply`.",
        "§6 row 2", "lab", uses=("received-proposals",)),
    LogRule(
        "esp-proposal-mismatch", "ESP proposals do not match: no CHILD_SA",
        ("no acceptable proposal found", "received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built"), "warning",
        "The IKE_SA came up but the client's ESP (CHILD_SA) proposals match none of the server's; when it "
        "happens only about an hour in, the client rekeys with (or without) a DH group the server lacks.",
        "Offer both PFS and non-PFS ESP variants (Swan Wizard's 'modern' preset ends in -none); check the "
        "client's cipher settings against proposals.esp. On a client this also shows when the server failed to "
        "install the SA (see the server's log).",
        "§6 row 3", "lab", uses=("received-proposals",)),
    LogRule(
        "no-peer-config", "no connection matches the identities (no matching peer config found)",
        ("no matching peer config found",), "warning",
        "No connection accepts the pair (server identity the client asked for, client identity): usually the "
        "client's remote ID / server address differs from the server's local id.",
        "Make the client's remote ID (the server address it is configured with) equal to server.address, or "
        "add that name to server.alt_names and re-run `swan-wizard apply` (the identity and certificate follow).",
        "§6 row 4", "lab", uses=("peer-configs",)),
    LogRule(
        "constraint-identity", "the peer's certificate does not confirm the required identity",
        ("constraint check failed",), "warning",
        "The certificate the peer presented does not contain the identity this side requires: a client "
        "configured with the server's IP while the certificate only names the DNS name (or the reverse).",
        "Issue the server certificate with every name and IP clients use (server.address and server.alt_names; "
        "an IP goes in as IP and DNS SAN) by re-running `swan-wizard apply`, and use one of them on the client.",
        "§6 row 5", "lab",
        refine=r"constraint check failed: (?:(?P<kind>\w+ )?identity '(?P<identity>[^']*)' required"
               r"|(?P<other>.*))"),
    # Before no-trusted-key, which would otherwise take the same line for a CA problem.
    LogRule(
        "identity-type", "the client's identity is not in its certificate as the type it was sent",
        ("no trusted ",), "warning",
        "The client sent a certificate, but charon never tried it for the identity the client sent: charon "
        "compares identities type-strictly, and the certificate does not carry that identity as that type. "
        "Typical: the certificate names alice@example.com as an e-mail address (rfc822Name SAN) and the client "
        "sends the same text as a host name (FQDN identity), or a DN or an IP where the certificate has a name.",
        "Make the client send its identity as the type its certificate carries it: Swan Wizard's client "
        "certificates carry the client's name as an e-mail (RFC822) SAN (a name without @ as a DNS SAN). "
        "Where it is set: the generated swanctl.conf local.id (plain alice@example.com or email:alice@example.com, "
        "never fqdn:), ipsec.conf leftid, the NetworkManager profile's local-identity (Identity), the Android "
        "app's local id (.sswan local.id), Apple's LocalIdentifier (.mobileconfig); Libreswan: "
        "leftid=alice@example.com without a leading @, which would make it a host name. Or re-import the "
        "generated profile, which sets it right.",
        "§6 row 6", "lab", needs_context="peer-cert", unless_context=("cert-used", "no-issuer", "cert-invalid"),
        uses=("peer-cert",), claims=True,
        refine=r"no trusted (?P<keytype>\w+) public key found for '(?P<identity>[^']*)'"),
    LogRule(
        "no-trusted-key", "no trusted public key: the peer's certificate does not chain to a trusted CA",
        ("no trusted ",), "warning",
        "The verifier cannot build a chain from the peer's certificate to a CA it trusts: the client's "
        "certificate comes from another CA (or the client does not trust the server's CA), the CA file is "
        "missing, or the certificate is expired.",
        "Server side: issue client certificates from this server's CA (`swan-wizard apply` with the client "
        "in clients:); client side: install the CA (ca.pem from the client's folder) as a trusted root.",
        "§6 row 6", "lab", uses=("no-issuer", "cert-invalid", "peer-cert"),
        refine=r"no trusted (?P<keytype>\w+) public key found for '(?P<identity>[^']*)'"),
    LogRule(
        "cert-expired", "a certificate is expired or not yet valid",
        ("subject certificate invalid", "issuer certificate invalid", "peer certificate invalid"), "warning",
        "A certificate in the chain is outside its validity period: expired, or a clock (server or phone) is "
        "wrong.",
        "Re-run `swan-wizard apply`: an expired certificate is re-issued with the same key; check the clocks "
        "(NTP).",
        "§6 row 7", "lab", refine=r"(?P<which>\w+) certificate invalid (?P<validity>.*)"),
    LogRule(
        "no-private-key", "charon has no private key for its own certificate or identity",
        ("no private key found for",), "error",
        "The key of the local certificate is not loaded (missing, wrong directory, encrypted) or the local "
        "identity is not contained in the certificate, so no certificate/key pair is found for it.",
        "Re-run `swan-wizard apply` to restore the key and certificate; the local id must be a SAN of the "
        "host certificate (see the certificate findings).",
        "§6 row 8", "lab", refine=r"no private key found for '(?P<identity>[^']*)'"),
    LogRule(
        "authentication-failed", "authentication failed (AUTHENTICATION_FAILED)",
        ("received AUTHENTICATION_FAILED notify error",), "warning",
        "One side rejected the other's authentication. 'Sent' means this host rejected the peer (the reason "
        "is logged just before, see the other findings); 'received' means the peer rejected this host: for "
        "a server, the client refused the server's certificate or identity.",
        "On the server: fix the cause logged before the AUTH_FAILED; when clients reject the server, check the "
        "server certificate's names and the CA installed on the client. On a client: read the server's log.",
        "§6 rows 4-9", "lab", uses=("peer-configs",),
        patterns=(r"generating IKE_AUTH response \d+ \[ N\(AUTH_FAILED\) \]",
                  r"parsed INFORMATIONAL request \d+ \[ N\(AUTH_FAILED\) \]"),
        refine=r"(?:(?P<received>)received AUTHENTICATION_FAILED|generating IKE_AUTH response \d+ "
               r"\[ N\(AUTH_FAILED\) \](?P<sent>)|parsed INFORMATIONAL request \d+ "
               r"\[ N\(AUTH_FAILED\) \](?P<peer>))"),
    LogRule(
        "eap-failed", "EAP login failed (unknown user or wrong password)",
        ("EAP-MS-CHAPv2 verification failed", "no EAP key found for"),
        "warning",
        "The user is unknown (no secret for that EAP identity) or typed a wrong password.",
        "Check the user name (case matters) against variants.ikev2-eap.users and the password the user was "
        "given (/etc/swan-wizard/secrets/eap.user.<user> when generated); re-run `swan-wizard apply` after a change.",
        "§6 row 11", "lab", patterns=(r"EAP method \S+ failed for peer",),
        refine=r"(?:no EAP key found for hosts '[^']*' - '(?P<user>[^']*)'|EAP-MS-CHAPv2 verification failed"
               r"|EAP method \S+ failed for peer (?P<peer>\S+))", unless_context=("radius-auth",)),
    LogRule(
        "radius-rejected", "RADIUS refused an EAP user (wrong password, unknown or locked user)",
        ("RADIUS authentication of ",), "warning",
        "With variants.ikev2-eap.backend: radius the RADIUS server decides: it answered Access-Reject for this "
        "user (wrong password, unknown user, or a policy of the RADIUS server).",
        "Check the user on the RADIUS server; its log says why (FreeRADIUS: `Login incorrect (...): [user]`, "
        "with auth = yes in radiusd.conf's log section, or `freeradius -X`).",
        "eap-radius", "lab", refine=r"RADIUS authentication of '(?P<user>[^']*)' failed"),
    LogRule(
        "radius-unreachable", "the RADIUS server cannot be reached",
        ("receiving RADIUS message failed:", "sending RADIUS message failed:", "waiting for RADIUS message failed:",
         "resolving RADIUS server address", "connecting RADIUS socket to", "opening RADIUS socket for"), "error",
        "charon could not talk to a RADIUS server: nothing listens on its port ('Connection refused': the RADIUS "
        "service is stopped, or radius.servers names the wrong address or port), its name does not resolve, or "
        "there is no route. That login fails; charon passes the server over for the next ones while another "
        "server in radius.servers answers.",
        "Start the RADIUS service (`systemctl status freeradius` on its host) or correct radius.servers "
        "(address, port) and re-run `swan-wizard apply`; list a second server for failover.",
        "eap-radius", "lab", unless_context=("radius-acct",)),
    LogRule(
        "radius-accounting", "RADIUS accounting refused: charon closed the session it had just let in",
        ("deleting IKE_SA after RADIUS timeout", "deleting all IKE_SAs after RADIUS timeout"), "error",
        "With radius.accounting on, charon ends a session whose accounting record no RADIUS server takes: the "
        "user authenticated, then the accounting port refused or did not answer (a wrong acct_port, accounting "
        "not enabled on the RADIUS server, or UDP 1813 dropped).",
        "Correct radius.servers[].acct_port or enable accounting on the RADIUS server (FreeRADIUS listens on "
        "1813 by default), or set radius.accounting: false; then re-run `swan-wizard apply`.",
        "eap-radius", "lab", uses=("radius-acct",)),
    LogRule(
        "radius-no-answer", "the RADIUS server does not answer: wrong shared secret, or requests dropped",
        ("RADIUS Access-Request timed out after",), "error",
        "charon's requests got no answer. A RADIUS server drops requests it cannot authenticate, so a shared "
        "secret that differs between radius.servers and the server's client entry looks exactly like this "
        "(FreeRADIUS logs 'invalid Message-Authenticator! (Shared secret is incorrect.)'); so does a firewall "
        "dropping UDP 1812 or a RADIUS server that does not list this gateway's address as a client.",
        "Compare the shared secret on both sides (the clients.conf entry Swan Wizard writes under "
        "/etc/swan-wizard/radius/ with radius.client_snippet: true holds the gateway's), check that the RADIUS "
        "server lists the address the gateway sends from, and that UDP 1812 passes.",
        "eap-radius", "lab"),
    LogRule(
        "radius-secret-mismatch", "a RADIUS answer failed verification: the shared secrets differ",
        ("RADIUS Response-Authenticator verification failed", "RADIUS Message-Authenticator verification failed"),
        "error",
        "A RADIUS server answered, but its answer was signed with another shared secret than the one in "
        "radius.servers.",
        "Give the gateway and the RADIUS server the same shared secret (radius.servers[].secret and the server's "
        "client entry), then re-run `swan-wizard apply`.",
        "eap-radius", "reference"),
    LogRule(
        "eap-method", "EAP method not supported by one side (EAP_NAK)",
        # "EAP_": charon's "%N not supported, sending EAP_NAK" starts with the method's name.
        ("received EAP_NAK", "EAP method not supported", "requesting ", "sending EAP_NAK", "EAP_"), "warning",
        "The server asks for EAP-MSCHAPv2 (username and password) but the client is set up for another method "
        "(EAP-TLS, 'machine certificates', EAP-MD5), or the EAP plugin is not loaded.",
        "Set the client to username/password (EAP-MSCHAPv2) for the IKEv2-EAP connection, or use the "
        "certificate profile (ikev2-cert) for certificate logins.",
        "§6 row 10", "lab", refine=r"(?:received EAP_NAK|.*not supported, sending EAP_NAK|requesting .*, "
                                   r"sending EAP_NAK|sending EAP_NAK)"),
    LogRule(
        "eap-no-config", "the client wants EAP but no connection offers it",
        ("no alternative config found",), "warning",
        "The client sent no AUTH payload (it wants username/password EAP) but the only matching connection "
        "authenticates clients with certificates.",
        "Enable variants.ikev2-eap with the user in the answers and re-run `swan-wizard apply`, or give the "
        "client its certificate profile.",
        "§6 row 10", "lab", needs_context="eap-requested", uses=("eap-requested",)),
    LogRule(
        "ts-unacceptable", "traffic selectors unacceptable (TS_UNACCEPTABLE)",
        ("received TS_UNACCEPTABLE notify", "no acceptable traffic selectors found", "traffic selectors "),
        "warning",
        "The networks the client asked to reach do not overlap the server's local_ts (a split tunnel the "
        "client does not know about, or a client asking for a subnet the server does not route). A server "
        "that could not install the tunnel says TS_UNACCEPTABLE too: its log then shows 'unable to install "
        "IPsec policies'.",
        "Make the client ask for 0.0.0.0/0 or the server's subnets; or widen variants.<name>.local_ts and "
        "re-run `swan-wizard apply`.",
        "§6 row 14", "lab", refine=r"(?:received TS_UNACCEPTABLE|no acceptable traffic selectors|"
                                   r"traffic selectors (?P<ts>.*) unacceptable)"),
    LogRule(
        "vip-failure", "virtual IP (address pool) negotiation failed",
        # "no virtual IP found, sending INTERNAL_ADDRESS_FAILURE": none of the addresses asked for was found.
        ("expected a virtual IP request", "no virtual IP found, sending", "received FAILED_CP_REQUIRED notify",
         "received INTERNAL_ADDRESS_FAILURE notify"), "warning",
        "The client did not ask for an address although the server hands them out (a client profile without "
        "'request an inner IP'), or it got none of those it asked for: the pool is exhausted or not loaded, or "
        "the client asked only for an address family (IPv6, IPv4) no pool serves.",
        "Let the client request a virtual IP (vips = 0.0.0.0, leftsourceip=%config; the generated profiles do) "
        "of the family of pool.addresses; if the pool is full, enlarge pool.addresses and re-run "
        "`swan-wizard apply`.",
        "§6 rows 12-13", "lab"),
    LogRule(
        # One line per address asked for and not found; whether it matters depends on the pools (logcheck).
        "vip-family", "a client got no virtual IP of one address family it asked for",
        ("no virtual IP found for ",), "warning",
        "The client asked for an inner address of a family (IPv4 or IPv6) the server's pools did not give it. "
        "Harmless when no pool of that family is configured and the client got an address of the other one "
        "(NetworkManager's charon-nm asks for both); otherwise that pool is exhausted or not loaded.",
        "Nothing to do for a family no pool serves (pool.addresses is one network: IPv4 or IPv6). When the pool "
        "of that family is full, enlarge pool.addresses and re-run `swan-wizard apply`; when it is not loaded, "
        "`swanctl --load-pools` (or --load-all).",
        "§6 row 12", "lab",
        refine=r"no virtual IP found for (?P<requested>\S+) requested by '(?P<identity>[^']*)'"),
    LogRule(
        "peer-not-responding", "the peer does not answer (packets do not arrive)",
        ("establishing IKE_SA failed, peer not responding", "giving up after", "peer not responding"), "warning",
        "IKE requests got no answer: UDP 500/4500 blocked on the way (cloud security group, host firewall), "
        "the server not running or not listening, or a wrong address.",
        "Open UDP 500 and 4500 to the server (cloud firewall too); check the system findings (charon running, "
        "ports bound, firewall rules).",
        "§6 row 15", "lab", uses=("retransmit",)),
    LogRule(
        "half-open", "half-open IKE_SAs: IKE_SA_INIT answered, IKE_AUTH never arrived",
        ("deleting half open IKE_SA",), "warning",
        "The client's first exchange arrived and was answered, but its IKE_AUTH never did: clients behind "
        "NAT switch to UDP 4500, which a firewall (often the cloud's) blocks, or the large IKE_AUTH's IP "
        "fragments are dropped.",
        "Open UDP 4500 as well as 500 (cloud security group and host firewall); keep fragmentation = yes "
        "(Swan Wizard's default) so IKE fragments itself instead of relying on IP fragments.",
        "§6 rows 15-16", "lab"),
    LogRule(
        "fragmentation", "IKE_AUTH retransmitted: its large messages get lost (fragmentation / MTU / UDP 4500)",
        ("received retransmit of request with ID", "retransmit "), "warning",
        "IKE_SA_INIT worked but the IKE_AUTH exchange (which carries the certificates and is the largest "
        "message) had to be retransmitted: its IP fragments are dropped by a NAT router or firewall, the "
        "client does not support IKEv2 fragmentation (Windows before 10 1803), or (behind NAT, where IKE_AUTH "
        "moves to UDP 4500) UDP 4500 is blocked.",
        "Keep fragmentation = yes (the default Swan Wizard writes) and make sure the client supports it; lower "
        "charon.fragment_size (e.g. 1200) for small-MTU paths; keep certificate chains short.",
        "§6 rows 16-17", "lab",
        # Message ID 1 is the IKE_AUTH carrying the certificates; later ones (EAP rounds) are small.
        refine=r"(?:received retransmit of request with ID (?P<rid>1)|"
               r"retransmit \d+ of request with message ID (?P<mid>1))\b"),
    LogRule(
        "install-failed", "unable to install the IPsec SA or policy in the kernel",
        ("unable to install", "unable to add"), "error",
        "The kernel refused the negotiated SA or policy: no ESP in the kernel (containers, minimal kernels) "
        "without charon's kernel-libipsec plugin, a missing algorithm, or a conflicting policy.",
        "Where the kernel has no ESP, use charon's userspace ESP (networking.esp: userspace, or auto) and "
        "re-run `swan-wizard apply`; otherwise `modprobe esp4` and check for another IPsec stack.",
        "§6 row 18", "lab", uses=("netlink-error", "libipsec-route", "no-local-address")),
    LogRule(
        "duplicate-ike-sa", "an IKE_SA was replaced by a new one of the same identity",
        ("deleting duplicate IKE_SA for peer", "destroying duplicate IKE_SA for peer"), "info",
        "Two devices (or a reconnecting one) use the same identity while uniqueids is on: the newer "
        "connection replaces the older.",
        "Give each device its own client certificate or user, or set uniqueids: false and re-run "
        "`swan-wizard apply`.",
        "§6 row 19", "lab"),
    LogRule(
        "psk-mismatch", "pre-shared key mismatch",
        ("tried ", "no shared key found for"), "warning",
        "The pre-shared key differs on the two sides, or is not bound to the identities used.",
        "Give the client the key from /etc/swan-wizard/secrets/ (generated) or the answers' psk reference.",
        "§6 row 20", "lab",
        refine=r"(?:tried \d+ shared keys? for .* but MAC mismatched|no shared key found for)"),
    LogRule(
        "xauth-failed", "XAuth login failed",
        ("no XAuth ", "XAuth authentication of"), "warning",
        "Unknown XAuth user or wrong password (IKEv1 Cisco IPsec).",
        "Check the user against variants.ikev1-xauth.users and the password handed out.",
        "§6 row 21", "lab", refine=r"(?:no XAuth \S+ found for|XAuth authentication of .* failed)",
        unless_context=("radius-auth",)),
)


# ---------------------------------------------------------------------------------------------- scanning


def _trie_pattern(words: Iterable[str | tuple[str, str]]) -> str:
    """One regex alternation of ``words`` folded into a trie (shared prefixes tested once).

    A word may be a (literal head, regex tail) pair: the tail must follow the head, so the engine itself
    rejects ordinary lines that share the head ("generating IKE_AUTH response 1 [ ... ]").
    """
    # A node: one child node per next character; under "" the set of tails of the words that end here.
    root: dict[str, Any] = {}
    for entry in words:
        word, tail = (entry, "") if isinstance(entry, str) else entry
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node.setdefault("", set()).add(tail)

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        ends = sorted(node.get("", ()))
        if not branches:
            return ends[0] if len(ends) == 1 else "(?:" + "|".join(ends) + ")"
        # Longer words first; a word ending here (with or without a tail) is the fallback.
        alternatives = branches + [e for e in ends if e] + ([""] if "" in ends else [])
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return build(root)


@dataclass
class Hit:
    offset: int  # of the line's first byte in the file
    text: str  # the whole log line
    tag: str  # "IPSec-IKEv2|3", "3" or ""
    groups: dict[str, str] = field(default_factory=dict)
    line_no: int = 0  # filled in once the scan is done (one counting pass for all hits)

    def to_json(self) -> dict[str, object]:
        return {"line": self.line_no, "text": self.text}


@dataclass
class RuleStats:
    rule: LogRule
    count: int = 0
    current: int = 0  # since the last epoch (charon start or configuration load)
    first: Hit | None = None
    first_current: Hit | None = None
    last: Hit | None = None
    context: list[Hit] = field(default_factory=list)  # context lines of the last hit's IKE_SA
    last_key: str = ""
    details: Counter[str] = field(default_factory=Counter)


@dataclass
class ScanResult:
    path: str
    size: int = 0
    lines: int = 0
    seconds: float = 0.0
    epoch: Hit | None = None
    stats: dict[str, RuleStats] = field(default_factory=dict)
    established: int = 0
    last_established: Hit | None = None
    missing: str = ""  # why the file could not be read

    def found(self) -> list[RuleStats]:
        return [s for s in self.stats.values() if s.count]


def _head(fragment: str) -> str:
    """The literal start of a regex fragment (up to its first special character)."""
    cut = re.search(r"[\\.\[\](){}*+?|^$]", fragment)
    return fragment[: cut.start()] if cut else fragment


def _sa_id(tag: str) -> str:
    # "<2>" becomes "<IPSec-IKEv2|2>" once a config is chosen: the unique id is what stays.
    return tag.rsplit("|", 1)[-1]


_THREAD = re.compile(rb"(\d+)\[[A-Z]{3}")


class LogScanner:
    """Compiled once; :meth:`scan` maps the file (no copy of it in memory) and runs the one pattern over it.

    Context lines ("received proposals: ...", "looking for peer configs ...") appear for every connection,
    so they are not part of the scan: when a rule matches, the 64 KiB before it are searched for the
    context lines of the same IKE_SA. Failures are rare; ordinary lines then never reach Python.
    """

    LINE_COUNT_STEP = 16 << 20  # newlines are counted in slices of this size: bounded memory
    SAME_EVENT_BYTES = 16 * 1024  # lines of one failure are this close (a few dozen lines of level 2)
    CONTEXT_WINDOW = 64 * 1024

    def __init__(self, rules: tuple[LogRule, ...] = RULES) -> None:
        self.rules = rules
        self.handlers: dict[str, list[tuple[str, LogRule | None]]] = {}  # literal message starts
        self.regex_handlers: dict[str, list[tuple[str, LogRule | None]]] = {}  # regex starts, by themselves
        for rule in rules:
            for prefix in rule.prefixes:
                self.handlers.setdefault(prefix, []).append(("rule", rule))
            for fragment in rule.patterns:
                self.regex_handlers.setdefault(fragment, []).append(("rule", rule))
        for prefix in EPOCHS:
            self.handlers.setdefault(prefix, []).append(("epoch", None))
        self.regex_handlers.setdefault(SUCCESS_PATTERN, []).append(("success", None))
        self.refine = {rule.code: re.compile(rule.refine) for rule in rules if rule.refine}
        self.regex_starts = tuple(self.regex_handlers)
        # A regex start goes into the trie as its literal head plus the rest as a regex tail.
        self.heads = {fragment: _head(fragment) for fragment in self.regex_starts}
        self.compiled_starts = [(re.compile(f), f) for f in self.regex_starts]
        words: list[str | tuple[str, str]] = [*self.handlers,
                                              *((head, fragment[len(head):]) for fragment, head in self.heads.items())]
        first = sorted({w[0] for w in self.handlers} | {head[0] for head in self.heads.values()})
        # One compiled pattern: "] ", an optional "<tag> " (possessive: never re-scanned), a cheap look at the
        # message's first byte, then the trie of every message start.
        self.pattern = re.compile(rb"\] (?:<([^>\n]*+)> )?(?=[" + "".join(re.escape(c) for c in first).encode()
                                  + rb"])(" + _trie_pattern(words).encode() + rb")")
        self.context_pattern = re.compile(rb"\] <([^>\n]{0,200})> (" + _trie_pattern(list(CONTEXTS)).encode() + rb")")
        # What `grep -F -f` gets in the benchmark: every message start, the regex ones by their literal head.
        self.literals = sorted({*self.handlers, *(h.rstrip() for h in self.heads.values() if h.strip())})

    def _handlers_for(self, text: str) -> list[tuple[str, LogRule | None]]:
        found = self.handlers.get(text)
        if found is not None:
            return found
        for compiled, fragment in self.compiled_starts:
            if compiled.fullmatch(text):
                return self.regex_handlers[fragment]
        return []

    def scan(self, path: str | Path) -> ScanResult:
        """Scan a log of any size: the file is mapped, never copied whole into memory."""
        import time

        started = time.perf_counter()
        result = ScanResult(str(path), stats={r.code: RuleStats(r) for r in self.rules})
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            result.missing = exc.strerror or str(exc)
            return result
        with handle:
            try:
                data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (ValueError, OSError):
                data = handle.read()  # empty, or not a regular file (a pipe): read it as it comes
            try:
                result.size = len(data)
                for match in self.pattern.finditer(data):
                    self._hit(match, data, result)
                self._number_lines(data, result)
            finally:
                if isinstance(data, mmap.mmap):
                    data.close()
        result.seconds = time.perf_counter() - started
        return result

    def _number_lines(self, data: bytes | mmap.mmap, result: ScanResult) -> None:
        """Line numbers for every hit kept, and the file's line count, in one pass over the newlines."""
        hits: list[Hit] = [h for h in (result.epoch, result.last_established) if h is not None]
        for stats in result.stats.values():
            hits += [h for h in (stats.first, stats.first_current, stats.last, *stats.context) if h is not None]
        step = self.LINE_COUNT_STEP
        position, lines = 0, 0

        def count(upto: int) -> int:
            nonlocal position, lines
            while position < upto:
                stop = min(upto, position + step)
                lines += data[position:stop].count(b"\n")  # slices of 16 MiB: bounded memory
                position = stop
            return lines

        for hit in sorted(hits, key=lambda h: h.offset):
            hit.line_no = count(hit.offset) + 1
        total = count(len(data))
        result.lines = total + (1 if len(data) and data[len(data) - 1:] != b"\n" else 0)

    def _hit(self, match: re.Match[bytes], data: bytes | mmap.mmap, result: ScanResult) -> None:
        start = data.rfind(b"\n", 0, match.start()) + 1
        end = data.find(b"\n", match.end())
        end = len(data) if end < 0 else end
        head = match.group(2)
        if head.startswith(b"IKE_SA "):
            # Every established IKE_SA: counted on a short path, there are as many as connections.
            result.established += 1
            result.last_established = Hit(start, "", "")
            return
        raw = data[start:end]
        tag = (match.group(1) or b"").decode(errors="replace")
        handlers = self._handlers_for(head.decode(errors="replace"))
        message = data[match.start(2):end].decode(errors="replace").rstrip("\r")
        hit = Hit(start, raw.decode(errors="replace").rstrip("\r"), tag)
        for kind, rule in handlers:
            if kind == "epoch":
                result.epoch = hit
                for stats in result.stats.values():
                    stats.current, stats.first_current, stats.last_key = 0, None, ""
            elif rule is not None:
                thread = _THREAD.search(raw)
                key = _sa_id(tag) if tag else "t" + (thread.group(1).decode() if thread else "")
                if self._rule_hit(rule, message, hit, key, data, start, result) and rule.claims:
                    break

    def _context(self, data: bytes | mmap.mmap, start: int, hit: Hit, key: str) -> list[tuple[str, Hit]]:
        """Context lines of the same IKE_SA in the window before the hit (oldest first)."""
        if not hit.tag:
            return []
        low = max(0, start - self.CONTEXT_WINDOW)
        window = data[low:start]
        found: list[tuple[str, Hit]] = []
        for match in self.context_pattern.finditer(window):
            if _sa_id(match.group(1).decode(errors="replace")) != key:
                continue
            what = CONTEXTS[match.group(2).decode()]
            line_start = window.rfind(b"\n", 0, match.start()) + 1
            line_end = window.find(b"\n", match.end())
            message = window[match.start(2):line_end].decode(errors="replace")
            groups: dict[str, str] = {}
            refine = CONTEXT_REFINE.get(what)
            if refine is not None:
                refined = refine.match(message)
                if refined is None:
                    continue
                groups = {k: v for k, v in refined.groupdict().items() if v is not None}
            found.append((what, Hit(low + line_start, window[line_start:line_end].decode(errors="replace"),
                                    match.group(1).decode(errors="replace"), groups)))
        return found

    def _rule_hit(self, rule: LogRule, message: str, hit: Hit, key: str, data: bytes | mmap.mmap, start: int,
                  result: ScanResult) -> bool:
        """Count ``hit`` for ``rule`` if the rule takes it (its refinement and context conditions hold)."""
        refine = self.refine.get(rule.code)
        groups: dict[str, str] = {}
        if refine is not None:
            found = refine.match(message)
            if found is None:
                return False
            groups = {k: v for k, v in found.groupdict().items() if v is not None}
        every = (self._context(data, start, hit, key)
                 if rule.uses or rule.needs_context or rule.unless_context else [])
        kinds = {k for k, _ in every}
        if (rule.needs_context and rule.needs_context not in kinds) or kinds & set(rule.unless_context):
            return False
        recent = every[-8:]
        hit = Hit(hit.offset, hit.text, hit.tag, groups)
        stats = result.stats[rule.code]
        for name, value in groups.items():
            stats.details[f"{name}={value}" if value else name] += 1
        # One failure often takes several lines ("giving up after 5 retransmits", then "establishing IKE_SA
        # failed, peer not responding"): lines of the same IKE_SA close together count as one event.
        same_event = (stats.last is not None and stats.last_key == key
                      and hit.offset - stats.last.offset <= self.SAME_EVENT_BYTES)
        stats.last, stats.last_key = hit, key
        stats.context = [h for k, h in recent if k in rule.uses]
        if same_event:
            return True
        stats.count += 1
        stats.current += 1
        stats.first = stats.first or hit
        stats.first_current = stats.first_current or hit
        for what, ctx in recent:
            if what not in rule.uses:
                continue
            if what == "peer-configs":
                stats.details["asked=" + ctx.text.split("looking for peer configs matching ", 1)[-1]] += 1
            elif what == "received-proposals":
                offered = ctx.text.split("received proposals: ", 1)[-1]
                # IKE_SA_INIT offers explain IKE mismatches, CREATE_CHILD_SA/IKE_AUTH ones ESP mismatches.
                if offered.startswith("ESP:") == rule.code.startswith("esp"):
                    stats.details["offered=" + offered] += 1
            elif what == "netlink-error":
                stats.details["kernel=" + ctx.text.split("received netlink error: ", 1)[-1]] += 1
            elif what in ("libipsec-route", "no-local-address"):
                stats.details[f"{what}={ctx.groups.get('ts', '?')}"] += 1
            elif what == "retransmit":
                stats.details[f"retransmitted-mid={ctx.groups.get('mid', '?')}"] += 1
            elif what == "peer-cert" and "cert" in ctx.groups:
                stats.details["cert=" + ctx.groups["cert"]] += 1
        return True


_SCANNER: LogScanner | None = None


def scanner() -> LogScanner:
    global _SCANNER
    if _SCANNER is None:
        _SCANNER = LogScanner()
    return _SCANNER


def scan(path: str | Path) -> ScanResult:
    return scanner().scan(path)
