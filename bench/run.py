"""Run Cordon's benchmarks side by side with its peers (Codex, srt, sandlock, firejail, bare bwrap) and report ratios.

    .venv/bin/python bench/run.py            # every bench/bench_*.py
    .venv/bin/python bench/run.py policy     # only modules whose name contains "policy"
    .venv/bin/python bench/run.py --rounds 30

Peers are installed on first use into the git-ignored .cache/peers. Results are also
written as JSON to bench/results/. Benchmarks never run in the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import peers  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="substrings of benchmark module names to run")
    ap.add_argument("--rounds", type=int, help="override the rounds per case")
    args = ap.parse_args()

    peers.install()
    ctx = {
        "codex": peers.codex(),
        "srt": peers.srt(),
        "python": sys.executable,
        "repo": HERE.parent,
        "cordon_bin": peers.cordon_install(),
        "sandlock_python": peers.sandlock_python(install=True),
        "firejail": peers.firejail(),
    }
    rows: list[dict] = []
    for mod_path in sorted(HERE.glob("bench_*.py")):
        if args.only and not any(o in mod_path.stem for o in args.only):
            continue
        mod = importlib.import_module(mod_path.stem)
        print(f"\n# {mod_path.stem}: {(mod.__doc__ or '').strip().splitlines()[0]}")
        for case in mod.cases(ctx):
            if args.rounds:
                case.rounds = args.rounds
            rows += harness.report(case, harness.measure(case))
        rows += ctx.pop("extra_rows", [])  # tables a module measured with its own drivers
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(rows, indent=2))
    print(f"\nwrote bench/results/{stamp}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
