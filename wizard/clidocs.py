"""The man page and the bash completion, generated from the argument parser so they never drift from it.

    python3 -m wizard.clidocs man    > swan-wizard.8
    python3 -m wizard.clidocs bash   > swan-wizard   (for /usr/share/bash-completion/completions/)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from wizard import __version__

SUMMARY = "set up, replay and troubleshoot a strongSwan IPsec VPN server"


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("client", "add")
    help: str
    parser: argparse.ArgumentParser


def _subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    return next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)


def commands(p: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[Command]:
    """Every (sub)command, depth first, with its one-line help."""
    sub = _subparsers(p)
    if sub is None:
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    for name, child in sub.choices.items():
        words = (*prefix, name)
        yield Command(words, helps.get(name, ""), child)
        yield from commands(child, words)


def _options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS]


def _roff(text: str) -> str:
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + out if out.startswith((".", "'")) else out


def _usage(p: argparse.ArgumentParser) -> str:
    return " ".join(p.format_usage().split()).removeprefix("usage: ")


def man(p: argparse.ArgumentParser) -> str:
    lines = [f'.TH SWAN-WIZARD 8 "" "swan-wizard {__version__}" "System Administration"',
             ".SH NAME", f"swan-wizard \\- {SUMMARY}",
             ".SH SYNOPSIS", f".B {_roff(_usage(p))}",
             ".SH DESCRIPTION", _roff(p.description or ""),
             ".SH OPTIONS"]
    lines += _option_lines(p)
    lines.append(".SH COMMANDS")
    for c in commands(p):
        if _subparsers(c.parser) is not None and not _options(c.parser):
            continue  # a group such as "client": its commands follow
        lines += [".SS " + _roff(" ".join(c.words)), _roff(c.help), ".PP", ".B " + _roff(_usage(c.parser))]
        lines += _option_lines(c.parser)
    lines += [".SH EXIT STATUS",
              "0 done; 1 a step failed; 2 the answers (or a secret they reference) are wrong, nothing was written; "
              "3 existing key material does not match the answers; 4 another run holds the lock; "
              "64 bad command line.",
              ".SH FILES", ".TP", ".I /etc/swan-wizard/",
              "answers, CA, clients, generated secrets and backups", ".TP", ".I /etc/swanctl/swanctl.conf",
              "or", ".I /etc/ipsec.conf", "the strongSwan configuration it writes",
              ".SH SEE ALSO", "swanctl(8), ipsec(8), strongswan.conf(5)", ""]
    return "\n".join(lines)


def _option_lines(p: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for a in _options(p):
        flags = ", ".join(a.option_strings)
        if a.metavar or (a.nargs != 0 and not isinstance(a, argparse._VersionAction)):
            flags += f" {a.metavar or a.dest.upper()}"
        out += [".TP", ".B " + _roff(flags), _roff(a.help or "")]
    return out


def bash(p: argparse.ArgumentParser) -> str:
    """A completion function: the command words at each level, that command's options after a "-", else files."""
    cases = []
    for c in [Command((), "", p), *commands(p)]:
        sub = _subparsers(c.parser)
        subs = " ".join(sub.choices) if sub else ""
        opts = " ".join(o for a in _options(c.parser) for o in a.option_strings)
        cases.append(f'        "{" ".join(c.words)}") subs="{subs}" opts="{opts}" ;;')
    known = "|".join(f'"{" ".join(c.words)}"' for c in commands(p))
    return "\n".join([
        "# bash completion for swan-wizard (generated from its argument parser)",
        "_swan_wizard() {",
        "    local cur=${COMP_WORDS[COMP_CWORD]} path='' w subs='' opts=''",
        "    for w in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do",
        "        case \"${path:+$path }$w\" in " + known + ") path=\"${path:+$path }$w\" ;; esac",
        "    done",
        "    case $path in",
        *cases,
        "    esac",
        "    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))",
        "    elif [[ -n $subs ]]; then COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))",
        "    else COMPREPLY=($(compgen -f -- \"$cur\"))",
        "    fi",
        "}",
        "complete -o filenames -F _swan_wizard swan-wizard",
        ""])


def main(argv: list[str] | None = None) -> int:
    from wizard.cli import parser

    what = (argv if argv is not None else sys.argv[1:]) or ["man"]
    if what[0] not in ("man", "bash"):
        print("usage: python3 -m wizard.clidocs man|bash", file=sys.stderr)
        return 64
    sys.stdout.write(man(parser()) if what[0] == "man" else bash(parser()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
