"""L2TP/IPsec's own files: xl2tpd.conf, pppd's options for it, and the CHAP users."""

from __future__ import annotations

from wizard.fs import paths
from wizard.model import formats
from wizard.model.answers import Answers
from wizard.model.credentials import Credential, secret_key
from wizard.render import managed_block
from wizard.render.strongswan_d import HEADER

L2TP_NAME = "l2tpd"  # the server name pppd and chap-secrets agree on


def xl2tpd_conf(answers: Answers) -> str:
    l2tp = answers.variants.l2tp
    assert l2tp is not None
    # xl2tpd's parser knows only ";" comments: a "#" line makes it refuse the whole file.
    header = "".join(f"; {line.removeprefix('#').strip()}\n" for line in HEADER.splitlines())
    return (header + "[global]\nport = 1701\n\n[lns default]\n"
            f"ip range = {l2tp.ip_range}\n"
            f"local ip = {l2tp.local_ip}\n"
            "require chap = yes\nrefuse pap = yes\nrequire authentication = yes\n"
            f"name = {L2TP_NAME}\n"
            f"pppoptfile = {paths.PPP_OPTIONS_XL2TPD}\n"
            "length bit = yes\n")


def ppp_options(answers: Answers) -> str:
    lines = [HEADER.rstrip("\n"), "+mschap-v2", "ipcp-accept-local", "ipcp-accept-remote", "noccp", "auth",
             # 1280 leaves room for L2TP, UDP and ESP overhead on a 1500-byte path.
             "mtu 1280", "mru 1280", "proxyarp", "lcp-echo-failure 4", "lcp-echo-interval 30",
             "connect-delay 5000"]
    lines += [f"ms-dns {dns}" for dns in answers.pool.dns if ":" not in dns]
    return "\n".join(lines) + "\n"


def chap_block(answers: Answers, creds: dict[str, Credential]) -> str:
    l2tp = answers.variants.l2tp
    assert l2tp is not None
    lines = []
    for i, u in enumerate(l2tp.users):
        cred = creds[secret_key("l2tp", u.name)]
        name = formats.chap_secret(u.name, f"variants.l2tp.users[{i}].name")
        password = formats.chap_secret(formats.secret_text(cred.value, cred.field), cred.field)
        lines.append(f"{name} {L2TP_NAME} {password} *")
    return managed_block.block(lines)
