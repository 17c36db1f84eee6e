"""What the admin does after an apply: which client files go where, how to fetch them, what to run next.

Shown by the wizard's last step and printed when it exits (the terminal's alternate screen is wiped then).
It reads only what is on disk under the root: a client is listed with the files that were really written.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import Answers
from wizard.plan.session import SAVED_ANSWERS
from wizard.problems import visible

# File name endings, in the order an admin hands them out, and who takes each.
USES: tuple[tuple[str, str], ...] = (
    (".mobileconfig", "iPhone, iPad, Mac"),
    (".ps1", "Windows 10/11"),
    (".sswan", "Android"),
    (".nmconnection", "Linux NetworkManager"),
    (".swanctl.conf", "Linux swanctl"),
    (".p12", "any other client"),
    ("README.txt", "how to, per system"),
    ("p12-password", "the .p12's password"),
)
LABEL_WIDTH = max(len(who) for _, who in USES) + 2


@dataclass(frozen=True)
class ClientFiles:
    name: str
    folder: Path  # where it is on this machine (under --root when one is used)
    logical: str  # the same folder on the system the files are for
    files: tuple[tuple[str, str], ...]  # (file name, who takes it), handed-out files only

    def fetch(self, address: str) -> str:
        """The command an admin runs on their own computer to copy the folder (it is root's, mode 0700)."""
        return f"scp -r {shlex.quote(f'root@{address}:{self.logical}')} ."


def _use(file_name: str) -> str | None:
    for ending, who in USES:
        if file_name.endswith(ending):
            return who
    return None


def _order(item: tuple[str, str]) -> int:
    return next(i for i, (_, who) in enumerate(USES) if who == item[1])


def client_files(answers: Answers, root: Root) -> list[ClientFiles]:
    """Every client and user with a folder under the root, with the files it holds for hand-out."""
    names = [c.name for c in answers.clients]
    v = answers.variants
    for variant in (v.ikev2_eap, v.ikev1_xauth, v.l2tp):
        if variant is not None:
            names += [u.name for u in variant.users if u.name not in names]
    out = []
    for name in names:
        logical = paths.client_dir(name)
        folder = root(logical)
        if not folder.is_dir():
            continue
        found = [(entry.name, who) for entry in sorted(folder.iterdir())
                 if entry.is_file() and not entry.is_symlink() and (who := _use(entry.name)) is not None]
        out.append(ClientFiles(name, folder, str(logical), tuple(sorted(found, key=_order))))
    return out


def peer_folders(answers: Answers, root: Root) -> list[tuple[str, str, Path, str]]:
    """Transport peers with a folder under the root (certificate peers: their key, certificate and CA, for
    the peer's own strongSwan): (name, address, folder here, folder on the real system)."""
    transport = answers.variants.transport
    out = []
    for peer in transport.peers if transport is not None else []:
        logical = paths.PEERS_DIR / peer.name
        if root(logical).is_dir():
            out.append((peer.name, peer.address, root(logical), str(logical)))
    return out


def _peer_lines(answers: Answers, root: Root, limit: int) -> list[str]:
    peers = peer_folders(answers, root)
    if not peers:
        return []
    lines = ["", f"Transport peers ({len(peers)}): copy each folder to its peer over a trusted channel: its "
             "strongSwan needs that key, certificate and CA."]
    for name, address, folder, logical in peers[:limit]:
        lines.append(f"{visible(name)} ({visible(address)}), in {folder}:")
        lines.append(f"    scp -r {shlex.quote(f'root@{answers.server.address}:{logical}')} .")
    if len(peers) > limit:
        lines.append(f"... and {len(peers) - limit} more under {root(paths.PEERS_DIR)}")
    return lines


def next_steps(answers: Answers, root: Root, limit: int = 50, files: bool = True) -> list[str]:
    """Lines for the last step and the exit summary: per client (the first ``limit``), its folder, its files
    (``files``: which goes to which system) and how to fetch it; then the commands for later."""
    lines: list[str] = []
    clients = client_files(answers, root)
    address = answers.server.address
    if clients:
        lines.append(f"Client files ({len(clients)}): each folder is root's alone; give each person theirs "
                     "over a trusted channel, and a generated password separately.")
    shown = clients[:limit]
    for c in shown:
        lines.append("")
        lines.append(f"{visible(c.name)}, in {c.folder}:")
        if files:
            lines += [f"  {who + ':':<{LABEL_WIDTH}}{visible(file_name)}" for file_name, who in c.files]
        lines.append("  fetch the folder, from your own computer:")
        lines.append(f"    {c.fetch(address)}")
    if len(clients) > len(shown):
        lines.append("")
        lines.append(f"... and {len(clients) - len(shown)} more under {root(paths.CLIENTS_DIR)} "
                     "(swan-wizard client list shows them all)")
    lines += _peer_lines(answers, root, limit)
    saved = shlex.quote(str(root(SAVED_ANSWERS)) if root(SAVED_ANSWERS).is_file() else "ANSWERS.yaml")
    prefix = f" --root {shlex.quote(str(root.path))}" if not root.is_live else ""
    lines += [
        "",
        "Later:",
        f"  add a client:   swan-wizard client add NAME --answers {saved}{prefix}",
        f"  revoke one:     swan-wizard client revoke NAME --answers {saved}{prefix}",
        f"  check the VPN:  swan-wizard doctor{prefix}",
        f"  undo this run:  swan-wizard rollback{prefix}",
    ]
    return lines


def exit_summary(answers: Answers | None, root: Root, applied: bool, session_file: Path | None) -> list[str]:
    """What the terminal shows once the wizard has left its full-screen view (which the terminal wipes)."""
    where = "this system" if root.is_live else str(root.path)
    if applied and answers is not None:
        # Short enough for a 24-line terminal: the folder's README.txt says which file goes to which system.
        readme = ["Each client folder's README.txt says which file goes to which system."]
        return [f"Swan Wizard applied the VPN server's files to {where}.",
                *next_steps(answers, root, limit=3, files=False),
                *(readme if client_files(answers, root) else [])]
    lines = [f"Swan Wizard: nothing was applied to {where}."]
    if session_file is not None:
        lines += ["Your answers so far are saved in", f"  {session_file}", "run swan-wizard again to resume."]
    return lines
