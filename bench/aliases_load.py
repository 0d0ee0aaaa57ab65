#!/usr/bin/env python3
"""How long `ferrymail check-config` takes with 20,000 aliases in an aliases
file (issue 18): the same loading and checks that `serve` and a SIGHUP reload
run. Writes a temporary configuration, runs check-config a few times with and
without the aliases, prints the difference. No daemon, no network.

    python3 bench/aliases_load.py [--bin target/release/ferrymail] [--n 20000]
"""

import argparse
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(binary, cfg, runs):
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run([binary, "check-config", "--config", cfg], capture_output=True, text=True)
        dt = time.perf_counter() - t
        assert r.returncode == 0, r.stdout + r.stderr
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/ferrymail"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "domains"))
        cfg = os.path.join(d, "ferrymail.toml")
        with open(cfg, "w") as f:
            f.write('hostname = "mail.test"\ndata_dir = "data"\ndomains_dir = "domains"\n'
                    '[submission]\nrelay_host = "127.0.0.1:2525"\n')
        dom = os.path.join(d, "domains", "example.org.toml")
        with open(dom, "w") as f:
            f.write('domain = "example.org"\n[aliases]\npostmaster = ["admin"]\n')
        empty = run(a.bin, cfg, a.runs)
        with open(os.path.join(d, "domains", "example.org.aliases"), "w") as f:
            f.write("# generated\n")
            for i in range(a.n):
                # Lists, nested aliases (alias i -> alias i+1 every tenth) and forwards.
                targets = [f"user{i % 997}", f"member{(i * 7) % 997}"]
                if i % 10 == 0 and i + 1 < a.n:
                    targets.append(f"alias{i + 1}")
                if i % 50 == 0:
                    targets.append(f"fwd{i}@outside.example")
                f.write(f"alias{i}@example.org  {', '.join(targets)}\n")
        with open(dom, "w") as f:
            f.write('domain = "example.org"\n[addresses]\naliases_file = "example.org.aliases"\n'
                    '[aliases]\npostmaster = ["admin"]\n')
        full = run(a.bin, cfg, a.runs)
    print(f"check-config: {empty * 1000:.0f} ms without aliases, {full * 1000:.0f} ms with {a.n} "
          f"(aliases: {(full - empty) * 1000:.0f} ms), best of {a.runs}")


if __name__ == "__main__":
    main()
