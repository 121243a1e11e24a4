"""Fixtures for the proxy tests: ``make_proxy`` starts proxies (logging to ``tmp_path/net.jsonl``) and stops them."""

from __future__ import annotations

import pytest

from cordon import netproxy


@pytest.fixture
def make_proxy(tmp_path):
    started = []

    def make(allow=(), deny=(), **kw):
        kw.setdefault("net_log", tmp_path / "net.jsonl")
        p = netproxy.start(allow, deny, **kw)
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()
