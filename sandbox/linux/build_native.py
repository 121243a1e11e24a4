"""Compile the native inner stage: ``cordon_inner.c`` -> ``cordon-inner``.

Used by setup.py at install time and, for a checkout the tests import from, by
``scripts/install.sh --dev`` (``python sandbox/linux/build_native.py OUT_DIR``). Standard
library only and loaded by file path: it runs in pip's isolated build environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "cordon_inner.c"


def build(out_dir: Path) -> bool:
    """Compile into ``out_dir``: static if the C library allows (no dynamic loader inside the
    sandbox before the walls are up), else dynamic; else warn. True when built."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("cordon: WARNING: no C compiler; the Python inner stage will be used", file=sys.stderr)
        return False
    out = Path(out_dir) / "cordon-inner"
    tmp = Path(out_dir) / f".cordon-inner.{os.getpid()}"
    err = ""
    for extra in (["-static", "-s"], ["-s"]):
        r = subprocess.run(
            [cc, *extra, "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], capture_output=True, text=True
        )
        if r.returncode == 0:
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
            return True
        err = r.stderr.strip()[:300]
    tmp.unlink(missing_ok=True)
    print(
        f"cordon: WARNING: cannot compile {SOURCE.name} ({err}); the Python inner stage will be used",
        file=sys.stderr,
    )
    return False


if __name__ == "__main__":
    raise SystemExit(0 if build(Path(sys.argv[1] if len(sys.argv) > 1 else SOURCE.parent)) else 1)
