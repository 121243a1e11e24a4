"""cordon.paths: the one containment check (correct at ``/``) and its set form."""

from __future__ import annotations

import itertools

import pytest

from cordon.paths import within, within_any

CASES = [
    ("/a/b", "/a", True),
    ("/a", "/a", True),
    ("/a", "/a/", True),
    ("/a/", "/a", True),
    ("/ab", "/a", False),
    ("/a", "/a/b", False),
    ("/", "/", True),
    ("/anything/at/all", "/", True),
    ("/etc", "//", True),
    ("/home/u/.ssh", "/home/u", True),
    ("/home/user2", "/home/u", False),
]


@pytest.mark.parametrize(("path", "root", "expected"), CASES)
def test_within(path, root, expected):
    assert within(path, root) is expected


def test_within_any_agrees_with_within_entry_by_entry():
    """within_any (one set lookup per ancestor) answers what within over every entry does."""
    names = ["/", "/a", "/a/b", "/a/bc", "/ab", "/a/b/c", "/x/y", "/a/b/c/d"]
    for k in range(3):
        for tops in itertools.combinations(names, k):
            for p in names:
                assert within_any(p, frozenset(tops)) == any(within(p, t) for t in tops), (p, tops)
