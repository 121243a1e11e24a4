"""Conformance-case format shared by the recorder (gen_cases.py) and the tests.

A case is a JSON file: ``tree`` (the starting files), ``patch`` and ``expected`` (Codex's stdout,
stderr, exit code and resulting tree). Absolute paths of the temporary root in Codex's messages are
stored as ``{ROOT}`` so the data does not depend on where it was recorded.

A tree is ``{"files": {rel: text | {"b64": ...}}, "symlinks": {rel: target}, "dirs": [rel, ...]}``
(``dirs`` lists only empty directories; others are implied by their files). Cases with
``"as": "user"`` were recorded as the unprivileged test account; their tree may also say
``root_owned`` (paths left to root) and ``modes`` (octal strings), applied by ``hand_over``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

CASES = Path(__file__).parent / "cases"
ROOT_TOKEN = "{ROOT}"


def build_tree(root: Path, tree: dict) -> None:
    for rel, content in tree.get("files", {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = base64.b64decode(content["b64"]) if isinstance(content, dict) else content.encode()
        p.write_bytes(data)
    for rel in tree.get("dirs", []):
        (root / rel).mkdir(parents=True, exist_ok=True)
    for rel, target in tree.get("symlinks", {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)


def hand_over(root: Path, tree: dict, uid: int, gid: int) -> None:
    """For cases recorded as the unprivileged user: give ``root`` and everything in it to uid/gid,
    except the ``root_owned`` paths (and what is inside them); then apply ``modes`` ("0o444")."""
    keep = [root / rel for rel in tree.get("root_owned", [])]
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not any(p == k or k in p.parents for k in keep):
                os.lchown(p, uid, gid)
    for rel, mode in tree.get("modes", {}).items():
        os.chmod(root / rel, int(mode, 8))


def snapshot(root: Path, ignore: tuple[str, ...] = ()) -> dict:
    """The tree under ``root`` in case format (files by content, symlinks by target, empty dirs)."""
    files: dict = {}
    links: dict = {}
    dirs: list = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in list(dirnames):
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                dirnames.remove(name)
                filenames.append(name)
        if rel_dir != "." and not dirnames and not filenames:
            dirs.append(rel_dir)
        for name in filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in ignore:
                continue
            if os.path.islink(p):
                links[rel] = os.readlink(p)
                continue
            data = Path(p).read_bytes()
            try:
                files[rel] = data.decode("utf-8")
            except UnicodeDecodeError:
                files[rel] = {"b64": base64.b64encode(data).decode()}
    return {
        "files": dict(sorted(files.items())),
        "symlinks": dict(sorted(links.items())),
        "dirs": sorted(dirs),
    }


def load_cases() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(CASES.glob("*.json"))]


def to_token(text: str, root: Path) -> str:
    return text.replace(str(root), ROOT_TOKEN)


def from_token(text: str, root: Path) -> str:
    return text.replace(ROOT_TOKEN, str(root))
