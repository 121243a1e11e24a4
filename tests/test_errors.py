"""One exception tree: every exception on Cordon's public surface is a ``CordonError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

from cordon import errors, vocabulary
from cordon.errors import ArgumentError, CordonError

PACKAGES = ("policy", "sandbox", "netproxy", "integrations")
# Loaded by file path at build time (setup.py builds the parser tables with Lark alone), so it
# cannot import cordon; the engine turns its error into a RulesError before anyone sees it.
STANDALONE = {"cordon.policy.starlark.syntax"}


def _public_modules() -> list[str]:
    names = ["cordon.errors", "cordon.paths", "cordon.vocabulary"]
    for pkg in PACKAGES:
        package = importlib.import_module(f"cordon.{pkg}")
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return [n for n in names if not any(part.startswith("_") for part in n.split("."))]


def _exceptions(module) -> dict[str, type]:
    """The exceptions ``module`` offers: its ``__all__``, and the ones it defines publicly."""
    names = set(getattr(module, "__all__", ()))
    names |= {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isclass(value) and value.__module__ == module.__name__
    }
    found = {}
    for name in names:
        value = getattr(module, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            found[f"{module.__name__}.{name}"] = value
    return found


def test_every_public_exception_is_a_cordon_error():
    seen, strays = {}, []
    for name in _public_modules():
        if name in STANDALONE:
            continue
        seen.update(_exceptions(importlib.import_module(name)))
    strays = sorted(name for name, cls in seen.items() if not issubclass(cls, CordonError))
    assert strays == []
    # The walk reaches every part of the tree (a walk that found nothing would pass, too).
    for expected in (
        "cordon.errors.ArgumentError",
        "cordon.policy.errors.PolicyError",
        "cordon.policy.errors.PatchError",
        "cordon.sandbox.errors.ConfigError",
        "cordon.sandbox.api.SandboxTimeout",
        "cordon.netproxy.errors.ProxyError",
        "cordon.netproxy.PatternError",
        "cordon.integrations.openai_agents.PatchSafetyError",
    ):
        assert expected in seen


def test_the_tree_drawn_in_cordon_errors_names_real_classes():
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__))
    assert len(drawn) >= 10
    real = {
        cls.__name__
        for name in _public_modules()
        if name not in STANDALONE
        for cls in _exceptions(importlib.import_module(name)).values()
    }
    assert drawn <= real, drawn - real


@pytest.mark.parametrize(
    "call",
    [
        lambda: vocabulary.Approval.parse("sometimes"),
        lambda: vocabulary.Approval.parse("never:rules=false"),
        lambda: vocabulary.parse_sandbox_mode("wide-open"),
        lambda: importlib.import_module("cordon.policy").decide([]),
    ],
)
def test_bad_arguments_raise_argument_error_which_is_still_a_value_error(call):
    with pytest.raises(ArgumentError) as caught:
        call()
    assert isinstance(caught.value, ValueError)


def test_proxy_errors_are_cordon_errors_and_value_errors():
    from cordon import netproxy

    with pytest.raises(netproxy.PatternError) as caught:
        netproxy.start(["*.1.2.3.4"])
    assert isinstance(caught.value, netproxy.ProxyError)
    assert isinstance(caught.value, CordonError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(netproxy.ProxyError):
        netproxy.canonical_host("a b")
