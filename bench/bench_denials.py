"""Denial observation: what it costs on real work, side by side in one run (issue 19, goal < 10%).

Two builds, each run five ways, alternating round by round:
  * "default: writes": `sandbox run` as shipped (refused calls and filesystem calls that write
    go to the launcher's supervisor, see docs/denials.md);
  * "all, as --denials": CORDON_DENIALS=all, what `--denials FILE` and `sandbox learn` use
    (every path-taking filesystem call, reads included);
  * "syscalls only": CORDON_DENIALS=syscalls (no filesystem notifications);
  * "not observed": CORDON_DENIALS=off (the filter without a listener);
  * "unconfined": the same script without any sandbox.
Workloads: a small C project (24 files with libc and libm headers, compiled one by one with
gcc, then linked) and a Python test suite (30 unittest modules importing common stdlib
packages). The ratios that matter are each observed variant / not observed.

    .venv/bin/python bench/bench_denials.py        # alone, no peers needed
    .venv/bin/python bench/run.py denials          # with the other benchmarks
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Case

REPO = Path(__file__).resolve().parents[1]

C_FILE = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <unistd.h>
double f{i}(double x) {{ char b[64]; snprintf(b, sizeof b, "%f", sqrt(x)); return strtod(b, NULL) + {i}; }}
"""
BUILD_SH = """set -e
rm -rf obj; mkdir obj
for f in src/*.c; do gcc -O1 -c "$f" -o "obj/$(basename "$f" .c).o"; done
gcc obj/*.o main.c -o app -lm
./app
"""
TEST_PY = """import unittest, json, decimal, email.message, csv, io, textwrap, datetime, fractions, statistics

class T{i}(unittest.TestCase):
    def test_json(self):
        self.assertEqual(json.loads(json.dumps({{"a": {i}}})), {{"a": {i}}})
    def test_decimal(self):
        self.assertEqual(decimal.Decimal("0.1") * 3, decimal.Decimal("0.3"))
    def test_csv(self):
        rows = list(csv.reader(io.StringIO("a,b\\n1,2\\n")))
        self.assertEqual(rows[1], ["1", "2"])
    def test_stats(self):
        self.assertEqual(statistics.median([1, 2, 3, {i}, 10 + {i}]), 3 if {i} >= 3 else 2 if {i} <= 2 else 3)
"""


def _c_project() -> Path:
    ws = Path(tempfile.mkdtemp(prefix="cordon-bench-denials-c-"))
    (ws / "src").mkdir()
    for i in range(24):
        (ws / "src" / f"f{i}.c").write_text(C_FILE.format(i=i))
    (ws / "main.c").write_text(
        '#include <stdio.h>\ndouble f0(double);\nint main(void){printf("%f\\n", f0(2));}\n'
    )
    (ws / "build.sh").write_text(BUILD_SH)
    return ws


def _py_suite() -> Path:
    ws = Path(tempfile.mkdtemp(prefix="cordon-bench-denials-py-"))
    (ws / "tests").mkdir()
    for i in range(30):
        (ws / "tests" / f"test_m{i}.py").write_text(TEST_PY.format(i=i))
    return ws


def _variants(sandbox: list[str], script: list[str]) -> dict[str, list[str]]:
    run = [*sandbox, "run", "--"]
    return {
        "cordon (default: writes)": [*run, *script],
        "cordon (all, as --denials)": ["env", "CORDON_DENIALS=all", *run, *script],
        "cordon (syscalls only)": ["env", "CORDON_DENIALS=syscalls", *run, *script],
        "cordon (not observed)": ["env", "CORDON_DENIALS=off", *run, *script],
        "unconfined": script,
    }


def cases(ctx) -> list[Case]:
    py = ctx.get("python", sys.executable)
    sandbox = [py, "-m", "cordon.sandbox"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CORDON_DENIALS", None)
    out = []
    if shutil.which("gcc"):
        ws = _c_project()
        out.append(
            Case(
                "build: 24 C files with gcc",
                _variants(sandbox, ["sh", "build.sh"]),
                rounds=7,
                cwd=ws,
                env=env,
                note="compare each row with 'not observed'",
            )
        )
    ws = _py_suite()
    out.append(
        Case(
            "test suite: 30 unittest modules (120 tests)",
            _variants(sandbox, ["/usr/bin/python3", "-B", "-m", "unittest", "discover", "-q", "-s", "tests"]),
            rounds=9,
            cwd=ws,
            env=env,
            note="compare each row with 'not observed'",
        )
    )
    return out


if __name__ == "__main__":
    import harness

    for case in cases({}):
        harness.report(case, harness.measure(case))
