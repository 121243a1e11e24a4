"""The package boundaries, checked on the import graph of the sources (read with ``ast``).

    cordon (root modules: vocabulary, paths, errors)   imports nothing of the packages
    cordon.policy                                       -> the root only
    cordon.netproxy                                     -> the root only
    cordon.sandbox                                      -> policy, netproxy, the root
    cordon.integrations                                 -> policy, sandbox, netproxy, the root

Every import counts, also the lazy ones inside functions and the module names written as
strings for ``importlib`` (``"cordon.policy.engine"``, ``"cordon.sandbox.model:SandboxPolicy"``).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import cordon

PACKAGES = ("policy", "sandbox", "netproxy", "integrations")
ALLOWED = {
    "cordon": set(),
    "policy": {"cordon"},
    "netproxy": {"cordon"},
    "sandbox": {"cordon", "policy", "netproxy"},
    "integrations": {"cordon", "policy", "sandbox", "netproxy"},
}
MODULE_NAME = re.compile(r"^cordon(\.\w+)+$")


def _modules() -> dict[str, Path]:
    """Every module of the packages and the namespace root: dotted name -> file."""
    root = Path(cordon.__file__).parent
    found = {f"cordon.{p.stem}": p for p in root.glob("*.py") if p.stem != "__init__"}
    found["cordon"] = root / "__init__.py"
    for pkg in PACKAGES:
        top = Path(importlib.import_module(f"cordon.{pkg}").__file__).parent
        for path in top.rglob("*.py"):
            parts = list(path.relative_to(top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(["cordon", pkg, *parts])] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else "cordon"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(module: str) -> list[tuple[str, str | None, ast.AST]]:
    """(imported module, name taken from it or None, node) for every import in ``module``."""
    out = []
    is_pkg = MODULES[module].name == "__init__.py"
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node) for a in node.names if a.name.startswith("cordon")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_pkg else module.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            if base == "cordon" or base.startswith("cordon."):
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    out.append((sub, None, node) if sub in MODULES else (base, a.name, node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            target = node.value.partition(":")[0]
            if MODULE_NAME.match(target) and target in MODULES:
                out.append((target, None, node))
    return out


def _edges(named: bool = True) -> dict[str, set[str]]:
    """module -> the modules it imports; ``named``: also those it names as strings (an
    ``importlib`` target, a ``-m`` command line, a resource folder), which count for the
    directions but not for cycles (naming a module is not importing it while being imported)."""
    return {
        m: {
            target
            for target, _, node in _imports(m)
            if target in MODULES and (named or not isinstance(node, ast.Constant))
        }
        for m in MODULES
    }


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_sources_are_all_read():
    for expected in (
        "cordon.vocabulary",
        "cordon.paths",
        "cordon.policy.engine",
        "cordon.policy.patch.paths",
        "cordon.sandbox.linux.proxy_bridge",
        "cordon.netproxy.server",
        "cordon.integrations.langchain",
    ):
        assert expected in MODULES


def test_packages_import_only_in_the_allowed_directions():
    wrong = sorted(
        f"{m} -> {t}"
        for m, targets in _edges().items()
        for t in targets
        if _package(t) != _package(m) and _package(t) not in ALLOWED[_package(m)]
    )
    assert wrong == []


def test_no_package_cycle():
    graph: dict[str, set[str]] = {p: set() for p in ALLOWED}
    for m, targets in _edges().items():
        graph[_package(m)] |= {_package(t) for t in targets if _package(t) != _package(m)}
    assert _cycles(graph) == []


def test_no_module_cycle():
    """Not even inside one package: two modules that need each other share a third instead
    (netproxy's ``session`` for ``server`` and ``http1``)."""
    assert _cycles(_edges(named=False)) == []


def test_no_module_reaches_into_another_modules_private_names():
    """``from cordon.x import _name`` and ``x._name`` across modules: a helper two modules
    share gets a public name in a named home instead."""
    found = []
    for m in MODULES:
        aliases = {}
        for target, name, node in _imports(m):
            if name is not None and target != m and _is_private(name):
                found.append(f"{m}:{node.lineno} imports {target}.{name}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                for a in node.names:
                    full = a.name if isinstance(node, ast.Import) else f"{target}"
                    if isinstance(node, ast.ImportFrom) and f"{target}.{a.name}" in MODULES:
                        full = f"{target}.{a.name}"
                    if full in MODULES and (a.asname or isinstance(node, ast.ImportFrom)):
                        aliases[a.asname or a.name] = full
        for node in ast.walk(TREES[m]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and aliases.get(node.value.id, m) != m
                and _is_private(node.attr)
            ):
                found.append(f"{m}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert found == []


def test_private_modules_are_used_only_inside_their_package():
    found = []
    for m in MODULES:
        for target, _, node in _imports(m):
            parts = target.split(".")
            private = [i for i, part in enumerate(parts) if _is_private(part)]
            if private and not m.startswith(".".join(parts[: private[0]]) + "."):
                found.append(f"{m}:{getattr(node, 'lineno', '?')} imports {target}")
    assert found == []


# The idiom every hand-written copy used: ``p.startswith(root + "/")`` / ``root.rstrip("/") + "/"``.
_CONTAINMENT = re.compile(r"startswith\([^()]*(\([^()]*\))?[^()]*\+\s*[\"']/[\"']\s*\)")
# The inner stage runs landlock.py as standalone code inside the sandbox (no ``cordon`` there):
# its copy is the one exception, and test_landlock_copy_agrees holds it to the definition.
_STANDALONE = {"cordon.sandbox.linux.landlock"}


def test_one_within():
    definitions = [
        m
        for m, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "within"
    ]
    assert definitions == ["cordon.paths"]
    copies = [
        f"{m}:{i + 1}"
        for m, path in MODULES.items()
        if m not in ("cordon.paths", *_STANDALONE)
        for i, line in enumerate(path.read_text().splitlines())
        if _CONTAINMENT.search(line)
    ]
    assert copies == []


def test_landlock_copy_agrees():
    from cordon.sandbox.linux import landlock

    from tests.test_paths import CASES

    assert [landlock._within(p, r) for p, r, _ in CASES] == [e for _, _, e in CASES]


@pytest.mark.parametrize("folder", ["cordon", *PACKAGES, "rules"])
def test_each_package_says_what_it_owns_and_must_not_touch(folder):
    readme = Path(cordon.__file__).parent.parent / folder / "README.md"
    text = readme.read_text()
    assert "Owns" in text and "Must not touch" in text
