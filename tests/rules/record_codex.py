"""Record what the real ``codex execpolicy check`` says about every shipped rules file.

Run this after editing anything in ``rules/`` (it needs the peer cache from bench/):

    .venv/bin/python tests/rules/record_codex.py

It writes ``tests/rules/codex_check.json``: per file its sha256, Codex's exit code and
output when loading it, and Codex's verdict on every ``match``/``not_match`` example the
file carries. The tests read that record (they never need the peer): they fail when a
file changed after it was recorded, when Codex refused a file, and when Cordon's engine
disagrees with Codex on any recorded example.

The examples are collected by evaluating each file with Python, with the three builtins
replaced by recorders. That works only because the shipped files keep to the part of
Starlark that is also Python (calls, lists, strings, comprehensions, assignments); the
files are Codex's to judge, this only lists what to ask it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
OUT = Path(__file__).resolve().parent / "codex_check.json"


def collect(path: Path) -> dict:
    """Evaluate a shipped file as Python and return its prefix and network rules as data."""
    prefix, network, hosts = [], [], {}

    def prefix_rule(pattern, decision="allow", match=(), not_match=(), justification=None, **kw):
        prefix.append(
            {
                "pattern": pattern,
                "decision": decision,
                "justification": justification,
                "match": [_argv(e) for e in match],
                "not_match": [_argv(e) for e in not_match],
            }
        )

    def network_rule(host, protocol, decision, justification=None):
        network.append(
            {"host": host, "protocol": protocol, "decision": decision, "justification": justification}
        )

    def host_executable(name, paths):
        hosts[name] = list(paths)  # last writer wins, as in Codex

    env = {"prefix_rule": prefix_rule, "network_rule": network_rule, "host_executable": host_executable}
    exec(compile(path.read_text(), str(path), "exec"), env)
    return {"prefix_rules": prefix, "network_rules": network, "host_executables": hosts}


def _argv(example) -> list[str]:
    # Shipped examples avoid '#' and backslashes, where Codex's shlex and Python's differ.
    return list(example) if isinstance(example, list) else shlex.split(example)


def codex_binary() -> Path:
    sys.path.insert(0, str(REPO))
    from bench import peers  # the bench owns peer discovery

    codex = peers.codex()
    if codex is None:
        raise SystemExit("codex peer not found: run the bench installer first (see bench/)")
    return Path(codex)


# Commands checked WITH --resolve-host-executables against every file, from cwd "/" (a
# relative argv[0] resolves against the cwd): planted programs must not ride on allow
# rules, system ones must, and forbidden rules must still catch any path.
PROBES = [
    ["./ls"],
    ["/tmp/x/cat", "/etc/passwd"],
    ["/usr/bin/ls", "-la"],
    ["/bin/cat", "README.md"],
    ["/usr/bin/git", "status"],
    ["./git", "status"],
    ["/usr/bin/rm", "-rf", "/"],
    ["/tmp/rm", "-rf", "/"],
    ["./pip", "list"],
    ["/usr/bin/pip", "list"],
    ["/usr/bin/pip", "install", "--user", "x"],
    ["node_modules/.bin/npm", "ls"],
    ["/usr/bin/npm", "ls"],
    ["/usr/local/bin/git", "push", "--force", "origin", "main"],
]


def check(codex: Path, rules: Path, argv: list[str], *resolve: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(codex), "execpolicy", "check", *resolve, "--rules", str(rules), "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def main() -> int:
    codex = codex_binary()
    version = subprocess.run([str(codex), "--version"], capture_output=True, text=True).stdout.strip()
    record: dict = {"codex": version, "files": {}}
    for path in sorted(RULES.glob("*.rules")):
        rel = path.relative_to(REPO).as_posix()
        loaded = check(codex, path, ["true"])
        data = collect(path)
        examples = []
        for i, rule in enumerate(data["prefix_rules"]):
            for kind in ("match", "not_match"):
                for argv in rule[kind]:
                    r = check(codex, path, argv)
                    examples.append(
                        {"rule": i, "kind": kind, "argv": argv, "exit_code": r.returncode, "stdout": r.stdout}
                    )
        probes = []
        for argv in PROBES:
            r = check(codex, path, argv, "--resolve-host-executables")
            probes.append({"argv": argv, "exit_code": r.returncode, "stdout": r.stdout})
        record["files"][path.name] = {
            "path": rel,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "exit_code": loaded.returncode,
            "stdout": loaded.stdout,
            "stderr": loaded.stderr,
            **data,
            "examples": examples,
            "probes": probes,
        }
        print(f"{rel}: exit {loaded.returncode}, {len(examples)} examples", file=sys.stderr)
    OUT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
