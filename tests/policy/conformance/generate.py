"""Re-record the conformance expectations from the real ``codex execpolicy check``.

    .venv/bin/python tests/policy/conformance/generate.py [path/to/codex]

Each case from cases.py is materialised in a fresh temporary directory (the working
directory; HOME is ``<dir>/home``), Codex runs with ``RUST_BACKTRACE=0``, and stdout, stderr
and the exit code are stored in cases.json with the directory templated as ``{cwd}`` and the
program name as ``{prog}``. The tests then need no Codex.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from tests.policy.conformance.cases import CASES  # noqa: E402

DEFAULT_CODEX = (
    HERE.parents[2]
    / ".cache/peers/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
)


def materialise(case: dict, root: Path) -> None:
    (root / "home").mkdir(exist_ok=True)
    for name, content in case["files"].items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            p.write_bytes(base64.b64decode(content["b64"]))
        else:
            p.write_bytes(content.encode("utf-8"))


def template(text: str, root: Path) -> str:
    # Codex's start-up noise about its own helper binaries is not part of `check`'s output.
    text = "".join(
        ln for ln in text.splitlines(keepends=True) if not ln.startswith("WARNING: proceeding, even though")
    )
    return text.replace(str(root), "{cwd}").replace("codex execpolicy check", "{prog}")


def run_codex(codex: str, case: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="cordon-conf-") as d:
        root = Path(d).resolve()
        materialise(case, root)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root / "home"),
            "RUST_BACKTRACE": "0",
        }
        p = subprocess.run(
            [codex, "execpolicy", "check", *case["args"]], cwd=root, env=env, capture_output=True, timeout=30
        )
        return {
            "stdout": template(p.stdout.decode("utf-8", "surrogateescape"), root),
            "stderr": template(p.stderr.decode("utf-8", "surrogateescape"), root),
            "exit": p.returncode,
        }


def main() -> int:
    codex = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_CODEX)
    if not Path(codex).exists():
        print(f"codex not found at {codex}", file=sys.stderr)
        return 2
    version = subprocess.run([codex, "--version"], capture_output=True, text=True).stdout.strip()
    out = []
    for case in CASES:
        out.append({**case, "expected": run_codex(codex, case)})
    data = {"peer": version, "cases": out}
    (HERE / "cases.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {len(out)} cases from {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
