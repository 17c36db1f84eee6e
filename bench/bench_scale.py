#!/usr/bin/env python3
"""Benchmark Swan Wizard's commands on a server with many clients: what each costs against what exists.

One run, on one root, in this order (every command through the installed CLI, as an admin runs it):

1. first apply: --clients ECDSA-P256 bundles (key, certificate, PKCS#12 with a generated password), ECDSA
   CA and host. Against the article's recipe (strongSwan ``pki`` + ``openssl pkcs12``) run sequentially on
   --sample clients and extrapolated linearly, and against the physical floor: the CPU time one bundle
   costs with ``cryptography`` alone (key, signature, PKCS#12), times the clients, divided by the cores.
2. no-op re-apply of the same answers: wall time and peak memory summed over the process tree.
3. ``client add`` of one RSA-2048 client, next to the cost of that one key (generation and PKCS#12).
4. ``client revoke`` of one client when the CRL already lists --revoked certificates (the answers get
   the revocations of the first --revoked clients, and one untimed apply publishes them).
5. ``client export`` of one client (its profiles again).

    .venv/bin/python bench/bench_scale.py                    # 1,000 clients (a few minutes on 2 cores)
    .venv/bin/python bench/bench_scale.py --clients 10000    # the 10,000-client rows (tens of minutes)
    .venv/bin/python bench/bench_scale.py --clients 100 --sample 10 --revoked 50   # smoke run

Only the standard library is imported at module level: swan-wizard's key-generation workers are started by
a forkserver that re-imports this file as their ``__main__``, so it must stay cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_apply as common  # the measuring helpers of the apply benchmark

REPO = Path(__file__).resolve().parents[1]


class PeakMemory:
    """Peak of the summed resident memory of this process's descendants, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cli(args: list[str], log: Path) -> Callable[[], None]:
    def body() -> None:
        with log.open("ab") as out:
            out.write(f"$ swan-wizard {' '.join(args)}\n".encode())
            out.flush()
            rc = subprocess.run([*common.swan_wizard_command(), *args], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise common.BenchError(f"swan-wizard {args[0]} exited {rc}: " + " | ".join(tail))

    return body


def timed(body: Callable[[], None]) -> tuple[common.Sample, int]:
    with PeakMemory() as memory:
        sample = common.measure(body, in_process=False)
    return sample, memory.peak


def bundle_floor(count: int) -> float:
    """CPU seconds per ECDSA-P256 bundle with cryptography alone: key, certificate signed by an ECDSA CA,
    legacy PKCS#12 with a password. Measured in this process, on one core."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
    from cryptography.x509.oid import NameOID

    from wizard.pki.encode import LEGACY_P12_ROUNDS  # the same work factor as the wizard's bundles

    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "floor CA")])
    now = datetime.now(UTC)
    encryption = (PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(LEGACY_P12_ROUNDS).key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                  .hmac_hash(hashes.SHA1()).build(b"a generated password of 20"))
    start = time.process_time()
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"c{i}@example.com"
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now.replace(year=now.year + 2))
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(name)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        pkcs12.serialize_key_and_certificates(name.encode(), key, cert, None, encryption)
    return (time.process_time() - start) / count


def rsa_bundle_cost() -> float:
    """CPU seconds of one RSA-2048 key and its legacy PKCS#12: the part of `client add` that scales with
    nothing but the one new client."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    runs = 5
    start = time.process_time()
    for _ in range(runs):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs12.serialize_key_and_certificates(b"x", key, None, None, BestAvailableEncryption(b"pw"))
    return (time.process_time() - start) / runs


def revoke_first(answers_path: Path, root: Path, names: list[str]) -> None:
    """Add revocations of these clients' current certificates to the answers (the serials read from their
    cert.pem files, as `client revoke` would record them)."""
    import yaml
    from cryptography import x509

    doc = yaml.safe_load(answers_path.read_text())  # `client add` saved it as YAML
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    doc["revoked"] = [
        {"name": name, "serial": format(x509.load_pem_x509_certificate(
            (root / "etc/swan-wizard/clients" / name / "cert.pem").read_bytes()).serial_number, "x"),
         "revoked_at": stamp}
        for name in names]
    answers_path.write_text(yaml.safe_dump(doc, sort_keys=False))


def rss(peak: int) -> str:
    return f"{peak / 2**20:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--sample", type=int, default=50, help="clients the article's recipe really issues")
    p.add_argument("--revoked", type=int, help="CRL entries before the timed revoke (default: half the clients)")
    p.add_argument("--tmpdir", type=Path)
    args = p.parse_args(argv)
    n, revoked = args.clients, args.revoked if args.revoked is not None else args.clients // 2
    if not 0 < revoked < n - 1:
        p.error("--revoked must leave at least two clients unrevoked")
    common.become_subreaper()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="swan-scale-", dir=args.tmpdir) as tmp:
        base = Path(tmp)
        print(common.header(argparse.Namespace(repeat=1), base).replace("apply benchmark", "scale benchmark", 1))
        scenario = common.Scenario("ecdsa-p256", "ecdsa-p256", "ecdsa-p256", common.client_names(n, "c"))
        work = base / "swan"
        work.mkdir()
        answers, root, log = work / "answers.yaml", work / "root", work / "commands.log"
        answers.write_text(scenario.answers_yaml())
        root.mkdir()
        apply = ["apply", str(answers), "--root", str(root)]

        first, first_peak = timed(cli(apply, log))
        common._count_p12(root / "etc/swan-wizard/clients", n)
        recipe = base / "recipe.sh"
        recipe.write_text(common.RECIPE)
        ref_work = base / "reference"
        ref_work.mkdir()
        setup, issued = common.run_reference(scenario, ref_work, recipe, 1, scenario.clients[:args.sample])
        reference = setup.wall + issued.wall * n / args.sample
        per_bundle = bundle_floor(min(args.sample, 200))
        floor = per_bundle * n / cores

        noop, noop_peak = timed(cli(apply, log))
        one_key = rsa_bundle_cost()
        add, add_peak = timed(cli(["client", "add", "new00001@example.com", "--key", "rsa-2048",
                                   "--answers", str(answers), "--root", str(root)], log))
        revoke_first(answers, root, scenario.clients[:revoked])
        published = common.measure(cli(apply, log), in_process=False)
        target = scenario.clients[revoked]
        revoke, revoke_peak = timed(cli(["client", "revoke", target, "--answers", str(answers), "--root",
                                         str(root)], log))
        export, export_peak = timed(cli(["client", "export", scenario.clients[-1], "--answers", str(answers),
                                         "--root", str(root)], log))

        rows = [["work", "wall", "CPU/wall", "peak memory", "against"],
                [f"first apply, {n} ECDSA bundles", common.fmt_s(first.wall), f"{first.cpu / first.wall:.2f}",
                 rss(first_peak), f"{first.wall / reference:.3f}x the recipe ({common.fmt_s(reference)}), "
                                  f"{first.wall / floor:.2f}x the floor ({common.fmt_s(floor)})"],
                [f"no-op re-apply, {n} clients", common.fmt_s(noop.wall), f"{noop.cpu / noop.wall:.2f}",
                 rss(noop_peak), ""],
                [f"client add, one RSA-2048, on {n}", common.fmt_s(add.wall), f"{add.cpu / add.wall:.2f}",
                 rss(add_peak), f"{common.fmt_s(add.wall - one_key)} beyond the key ({common.fmt_s(one_key)})"],
                [f"client revoke, CRL with {revoked} entries", common.fmt_s(revoke.wall),
                 f"{revoke.cpu / revoke.wall:.2f}", rss(revoke_peak), ""],
                [f"client export, one of {n + 1}", common.fmt_s(export.wall), f"{export.cpu / export.wall:.2f}",
                 rss(export_peak), ""]]
        print(common.table(rows, right=(1, 2, 3)))
        print(f"\nrecipe: CA + host {common.fmt_s(setup.wall)}, {args.sample} clients {common.fmt_s(issued.wall)}, "
              f"extrapolated linearly to {n}; floor: {per_bundle * 1000:.2f} ms CPU per bundle x {n} / {cores} "
              f"cores; publishing {revoked} revocations took {common.fmt_s(published.wall)} (untimed row).")
        worst = max(s.other / s.wall for s in (first, noop, add, revoke, export))
        if worst > 0.25:
            print(f"warning: other processes used up to {worst:.2f} cores during a timed command: figures are "
                  f"pessimistic")
    common.stop_helpers()
    return 0


if __name__ == "__main__":
    sys.exit(main())
