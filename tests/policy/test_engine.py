"""The engine's library API: load_policy / Policy.check / Evaluation, errors as data, bounds,
the parsed-policy cache, and Cordon's additions (restrictive basename, command_rule)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cordon.policy import Evaluation, Policy, PolicyError, load_policy
from cordon.policy.engine import RulesError

REPO = Path(__file__).resolve().parents[2]

RULES = """
prefix_rule(pattern=["git", "status"], decision="prompt", justification="read-only but asks")
prefix_rule(pattern=["git", ["push", "fetch"]], decision="forbidden", match=["git push origin"])
prefix_rule(pattern=["ls"])
host_executable(name="git", paths=["/usr/bin/git"])
network_rule(host="Example.COM:443", protocol="https_connect", decision="deny", justification="no")
"""


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def test_load_text_and_check():
    p = load_policy(text=RULES)
    assert isinstance(p, Policy)
    ev = p.check(["git", "push", "origin", "main"])
    assert isinstance(ev, Evaluation)
    assert ev.decision == "forbidden"
    assert ev.to_json() == (
        '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git","push"],"decision":"forbidden"}}],'
        '"decision":"forbidden"}'
    )
    assert p.check(["cat"]).decision is None
    assert p.check(["cat"]).to_json() == '{"matchedRules":[]}'
    assert p.check(("ls", "-l")).decision == "allow"  # any sequence


def test_matched_rules_are_pydantic_models():
    ev = load_policy(text=RULES).check(["/usr/bin/git", "status"], resolve_host_executables=True)
    (m,) = ev.matched_rules
    assert m.prefix_rule_match.matched_prefix == ["git", "status"]
    assert m.prefix_rule_match.resolved_program == "/usr/bin/git"
    assert m.prefix_rule_match.justification == "read-only but asks"
    assert json.loads(ev.to_json())["matchedRules"] == [m.model_dump(by_alias=True, exclude_none=True)]


def test_network_rules_normalised():
    (n,) = load_policy(text=RULES).network_rules
    assert (n.host, n.protocol, n.decision, n.justification) == ("example.com", "https", "forbidden", "no")


def test_network_rules_record_where_they_were_declared(tmp_path):
    """Like prefix rules: file as given, line and column of the call (also through the cache)."""
    f = tmp_path / "net.rules"
    f.write_text(
        '# hosts\nnetwork_rule(host="a.test", protocol="https", decision="allow")\n\n'
        '_ = network_rule(\n    host="b.test", protocol="http", decision="deny")\n'
    )
    for cache in (False, True, True):
        a, b = load_policy(f, cache=cache).network_rules
        assert (a.source, a.location) == ((str(f), 2, 1), f"{f}:2:1")
        assert (b.host, b.decision, b.location) == ("b.test", "forbidden", f"{f}:4:5")
    (t,) = load_policy(text='network_rule(host="c.test", protocol="http", decision="allow")').network_rules
    assert t.location is not None and t.location.endswith(":1:1")


def test_files_merge_in_order_and_text_last(tmp_path):
    a = tmp_path / "a.rules"
    b = tmp_path / "b.rules"
    a.write_text('prefix_rule(pattern=["x"], decision="prompt")\n')
    b.write_text('prefix_rule(pattern=["x"], decision="allow")\n')
    p = load_policy(a, str(b), text='prefix_rule(pattern=["x"], decision="forbidden")', name="extra")
    ev = p.check(["x"])
    assert [m.decision for m in ev.matches] == ["prompt", "allow", "forbidden"]
    assert ev.decision == "forbidden"
    assert p.sources == [str(a), str(b), "extra"]


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ('prefix_rule(pattern=["a"],\n  decision="deny")', "invalid decision: deny", 1, 1),
        ("x = [\n  1,,\n]", "Parse error: unexpected symbol ','", 2, 5),
        ("\n\nprefix_rule(pattern=PATTERN)", "Variable `PATTERN` not found", 3, 21),
        (
            "def f():\n    prefix_rule(pattern=[])\nf()",
            "invalid pattern element: pattern cannot be empty",
            2,
            5,
        ),
        ('\nprefix_rule(pattern=["git"], match=["hg"])', "expected every example to match", 2, 1),
        ("if True:\n\tpass", "Parse error: tabs are not allowed", 1, 9),
        # one token, where Codex (starlark-rust) has one too: Starlark has no power operator
        ("x = 2 ** 3", "Parse error: unexpected symbol '**', expected new line", 1, 7),
        (
            "x = 1 - - 2\nprefix_rule(pattern=[1 -])",
            "Parse error: unexpected symbol ']', expected expression",
            2,
            25,
        ),
    ],
)
def test_errors_carry_location(text, message, line, column):
    with pytest.raises(PolicyError) as ei:
        load_policy(text=text, name="my.rules")
    e = ei.value
    assert isinstance(e, RulesError)
    assert e.message.startswith(message)
    assert (e.file, e.line, e.column) == ("my.rules", line, column)
    assert str(e).startswith(f"my.rules:{line}:{column}: {message}")


def test_read_errors(tmp_path):
    with pytest.raises(RulesError) as ei:
        load_policy(tmp_path / "nope.rules")
    assert ei.value.stage == "read" and "No such file or directory (os error 2)" in ei.value.message
    bad = tmp_path / "bad.rules"
    bad.write_bytes(b'prefix_rule(pattern=["a"])\nx = "\xff"\n')
    with pytest.raises(RulesError) as ei:
        load_policy(bad)
    assert ei.value.message == "stream did not contain valid UTF-8" and ei.value.line == 2


def test_broken_second_file_loads_nothing(tmp_path):
    good = tmp_path / "good.rules"
    good.write_text('prefix_rule(pattern=["ls"])')
    broken = tmp_path / "broken.rules"
    broken.write_text('prefix_rule(pattern=["ls"], decision="nope")')
    with pytest.raises(RulesError) as ei:
        load_policy(good, broken)
    assert ei.value.file == str(broken)


@pytest.mark.parametrize(
    "text",
    [
        "for i in range(1000000000):\n    pass",
        "def f():\n    for i in range(100000000):\n        pass\nf()",
        "L = [1]\nfor x in L:\n    L.append(x)",  # Starlark forbids it (Codex: same message)
        'x = "a" * 1000000000',
        "x = [0] * 100000000",
        "def f(n):\n    return f(n + 1)\nf(0)",
        "x = 1 << 100000000",
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "1 + " * 20000 + "1",
        "x = " + "-" * 20000 + "1",
        "f = lambda: f()\nf()",
        'X = "a" * 1000000\nfor i in range(1000000000):\n    y = X + X',
        "L = list(range(100000))\nfor i in range(1000000000):\n    y = str(L)",
        "L = list(range(1000000))\nfor i in range(1000000000):\n    y = -1 in L",
    ],
    ids=[
        "loop",
        "loop_in_def",
        "self_growing_list",
        "huge_string",
        "huge_list",
        "recursion",
        "huge_shift",
        "deep_nesting",
        "long_expression",
        "deep_unary",
        "lambda_recursion",
        "loop_over_big_strings",
        "loop_over_big_repr",
        "loop_over_big_membership",
    ],
)
def test_evaluation_is_bounded(text):
    t0 = time.monotonic()
    with pytest.raises(PolicyError):
        load_policy(text=text)
    assert time.monotonic() - t0 < 20


def test_fail_and_load_rejected():
    with pytest.raises(PolicyError, match="fail: stop"):
        load_policy(text='fail("stop")')
    with pytest.raises(PolicyError, match="No imports are available"):
        load_policy(text='load("x.star", "y")')


# ------------------------------------------------------------------ host executables (Cordon default)


def test_unlisted_path_cannot_dodge_strict_rules():
    p = load_policy(
        text='host_executable(name="git", paths=["/usr/bin/git"])\n'
        'prefix_rule(pattern=["git", "push"], decision="forbidden")\n'
        'prefix_rule(pattern=["git"], decision="allow")'
    )
    dodge = p.check(["/tmp/git", "push"], resolve_host_executables=True)
    assert dodge.decision == "forbidden"
    assert dodge.matches[0].resolved_program == "/tmp/git"
    # allow rules do not extend to unlisted paths
    assert p.check(["/tmp/git", "status"], resolve_host_executables=True).decision is None
    # the listed path gets every rule
    assert p.check(["/usr/bin/git", "status"], resolve_host_executables=True).decision == "allow"
    # Codex 0.169.0 behaviour on request
    assert (
        p.check(["/tmp/git", "push"], resolve_host_executables=True, restrictive_basename=False).decision
        is None
    )


def test_host_resolution_relative_and_home(tmp_path, monkeypatch):
    p = load_policy(text='prefix_rule(pattern=["tool"], decision="prompt")')
    monkeypatch.setenv("HOME", "/home/u")
    ev = p.check(["~/bin/tool"], resolve_host_executables=True)
    assert ev.matches[0].resolved_program == "/home/u/bin/tool"
    ev = p.check(["./x/../tool"], resolve_host_executables=True, cwd="/work")
    assert ev.matches[0].resolved_program == "/work/tool"
    ev = p.check(["//usr//bin/./tool/"], resolve_host_executables=True)
    assert ev.matches[0].resolved_program == "/usr/bin/tool"
    assert p.check(["/usr/bin/tool"]).decision is None  # no resolution unless asked


# ------------------------------------------------------------------ command_rule (opt-in extension)


def test_command_rule_exact():
    p = load_policy(
        text='command_rule(pattern=["rm", "-rf", "build/"], exact=True, match=["rm -rf build/"], '
        'not_match=["rm -rf build/ /"])'
    )
    assert p.check(["rm", "-rf", "build/"]).decision == "allow"
    assert p.check(["rm", "-rf", "build/", "--no-preserve-root", "/"]).decision is None
    out = json.loads(p.check(["rm", "-rf", "build/"]).to_json())
    assert out["matchedRules"][0]["commandRuleMatch"]["match"] == "exact"


def test_command_rule_anywhere():
    p = load_policy(
        text='prefix_rule(pattern=["git", "push"])\n'
        'command_rule(pattern=["git", "push"], anywhere=[["--force", "-f"]], decision="forbidden", '
        'match=["git push origin main --force"], not_match=["git push origin"])'
    )
    assert p.check(["git", "push", "origin"]).decision == "allow"
    assert p.check(["git", "push", "-f", "origin"]).decision == "forbidden"
    assert p.check(["git", "push", "origin", "main", "--force"]).decision == "forbidden"


def test_command_rule_validation():
    with pytest.raises(PolicyError, match="needs exact=True or a non-empty anywhere"):
        load_policy(text='command_rule(pattern=["a"])')
    with pytest.raises(PolicyError, match="cannot combine"):
        load_policy(text='command_rule(pattern=["a"], exact=True, anywhere=["b"])')


def test_plain_codex_file_cannot_change_meaning():
    # A Codex file that defines its own `command_rule` keeps its own meaning (module scope wins).
    p = load_policy(
        text='def command_rule(pattern, **kw):\n    prefix_rule(pattern=pattern, decision="prompt")\n'
        'command_rule(["make"], exact=True)'
    )
    assert p.check(["make", "all"]).decision == "prompt"


# ------------------------------------------------------------------ cache


def test_cache_hit_skips_parsing(tmp_path, monkeypatch):
    f = tmp_path / "c.rules"
    f.write_text(RULES)
    first = load_policy(f, cache=True)
    import cordon.policy.engine as engine

    def boom(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(engine, "_load_inputs", boom)
    second = load_policy(f, cache=True)
    assert second.check(["git", "push"]).to_json() == first.check(["git", "push"]).to_json()
    assert [r.pattern_tokens() for r in second.rules] == [r.pattern_tokens() for r in first.rules]
    assert second.network_rules == first.network_rules
    f.write_text(RULES.replace("forbidden", "prompt"))  # new content -> new key -> parsed again
    with pytest.raises(AssertionError, match="parsed again"):
        load_policy(f, cache=True)


def test_cache_corruption_is_ignored(tmp_path):
    f = tmp_path / "c.rules"
    f.write_text(RULES)
    load_policy(f, cache=True)
    entries = list((tmp_path / "xdg" / "cordon" / "policies").rglob("*"))
    files = [e for e in entries if e.is_file()]
    assert files
    for e in files:
        e.write_bytes(b"garbage")
    assert load_policy(f, cache=True).check(["ls"]).decision == "allow"


def _decoded(data):
    import marshal

    rules, *rest = data
    return (marshal.loads(rules), *rest)


def test_shipped_store_holds_exactly_what_parsing_gives(tmp_path):
    """The store (built by setup.py and scripts/install.sh; the wheel test checks it is used
    there) has every shipped command set, each equal to a fresh load of the same file."""
    from cordon.policy import cache, engine
    from cordon.policy.shipped import list_shipped

    store = str(tmp_path / "store")
    assert engine.write_shipped_store(store) >= 4
    names = [n for n in list_shipped() if n in ("default", "python", "node", "git-readonly")]
    assert len(names) == 4
    for name in names:
        given, _path, content = engine.read_source(name)
        fresh = engine._load_inputs([(given, content)])[0].to_data()
        stored = cache.get_shipped(engine.ENGINE_VERSION, given, content, path=store)
        assert stored is not None, name
        assert _decoded(stored) == _decoded(fresh), name


def test_first_check_of_a_shipped_set_skips_the_parser(tmp_path):
    """No user cache yet (a fresh XDG folder), ``--no-cache`` even: the shipped set comes from
    the install's store, so neither Lark nor the evaluator is imported."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    from cordon.policy import engine

    store = tmp_path / "store"
    engine.write_shipped_store(str(store))  # what the install holds (this checkout's may be stale)
    code = (
        "import sys\n"
        f"from cordon.policy import cache; cache.SHIPPED_STORE = {str(store)!r}\n"
        "from cordon.policy.commands.check import run\n"
        "rc = run(['--no-cache', '--rules', 'default', '--', 'git', 'push', '--force', 'origin', 'main'])\n"
        "print(rc, sorted(m for m in ('lark', 'cordon.policy.starlark.interp') if m in sys.modules))"
    )
    out = _run(code, env=env)
    assert '"decision":"forbidden"' in out and out.rstrip().endswith("0 []"), out
    # control: a file that is not a shipped set (the same text under another name) is parsed
    copy = tmp_path / "default.rules"
    copy.write_bytes((REPO / "rules" / "default.rules").read_bytes())
    out = _run(code.replace("'default'", repr(str(copy))), env=env)
    assert out.rstrip().endswith("0 ['cordon.policy.starlark.interp', 'lark']"), out


def test_shipped_store_needs_the_content_the_engine_and_the_trust_rules(tmp_path, monkeypatch):
    """A forged store (allow everything under the name ``default``) is believed only where it
    is ours, not writable by others and not exposed to a recent launch; never for other text."""
    import marshal

    from cordon.policy import cache, engine
    from cordon.policy.statetrust import record_launch

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    given, _path, content = engine.read_source("default")
    permissive = load_policy(text='prefix_rule(pattern=["git"], decision="allow")').to_data()
    store = tmp_path / "install" / "shipped.compiled"
    store.parent.mkdir()
    key = cache.shipped_key(engine.ENGINE_VERSION, given, content)
    store.write_bytes(marshal.dumps((1, {given: (key, permissive)})))
    store.chmod(0o644)
    get = lambda text=content: cache.get_shipped(engine.ENGINE_VERSION, given, text, path=str(store))  # noqa: E731
    assert get() == permissive  # control: a trusted store is used as is
    assert get(content + b"\n# edited\n") is None  # another text, another key
    store.chmod(0o666)
    assert get() is None
    store.chmod(0o644)
    assert get() == permissive
    record_launch([str(tmp_path / "install")], [])
    assert get() is None


def test_errors_are_never_cached(tmp_path):
    f = tmp_path / "c.rules"
    f.write_text('prefix_rule(pattern=["a"], decision="x")')
    for _ in range(2):
        with pytest.raises(PolicyError):
            load_policy(f, cache=True)


# ------------------------------------------------------------------ imports and CLI plumbing


def _run(code: str, env=None) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, env=env
    ).stdout


def test_import_policy_is_cheap():
    out = _run(
        "import sys, policy; policy.PolicyError; "
        "print(sorted(m for m in ('lark', 'pydantic', 'typer') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_check_hot_path_avoids_heavy_imports(tmp_path):
    f = tmp_path / "h.rules"
    f.write_text(RULES)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    code = (
        "import sys, io, contextlib\n"
        "from cordon.policy.commands.check import run\n"
        f"run(['-r', {str(f)!r}, 'git', 'status'])\n"
        "print(sorted(m for m in ('lark', 'pydantic', 'typer', 'json', 're') if m in sys.modules), file=sys.stderr)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True)  # warm
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    assert p.stdout.startswith('{"matchedRules":[{"prefixRuleMatch"')
    assert "lark" not in p.stderr and "pydantic" not in p.stderr and "typer" not in p.stderr


# The installed `execpolicy` program is bin/execpolicy: run under -S (site imports nothing of its
# own), everything new in sys.modules came from the script and the check it runs.
_SCRIPT_PROBE = """
import sys
before = set(sys.modules)
sys.path += {site!r}
scope = {{"__name__": "probe"}}
with open({script!r}) as f:
    exec(compile(f.read(), {script!r}, "exec"), scope)
try:
    scope["main"](["check", "-r", {rules!r}, "git", "status"])
except SystemExit as e:
    print("RESULT", e.code, *sorted(set(sys.modules) - before), file=sys.stderr)
"""


def test_the_execpolicy_script_imports_no_re_on_a_warm_check(tmp_path):
    """pip's console-script wrapper imports ``re`` (with ``enum``: 7-10 ms of a ~20 ms check), so
    `execpolicy` is the plain script bin/execpolicy, as `sandbox` is bin/sandbox."""
    import site

    script = REPO / "bin" / "execpolicy"
    assert script.read_text().startswith("#!python\n")
    f = tmp_path / "h.rules"
    f.write_text(RULES)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    code = _SCRIPT_PROBE.format(site=site.getsitepackages(), script=str(script), rules=str(f))
    run = [sys.executable, "-S", "-c", code]
    subprocess.run(run, cwd=REPO, env=env, check=True, capture_output=True)  # fills the cache
    p = subprocess.run(run, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    assert p.stdout.startswith('{"matchedRules":[{"prefixRuleMatch"'), p.stdout
    result = [x for x in p.stderr.splitlines() if x.startswith("RESULT ")][-1].split()
    assert result[1] == "0"
    heavy = sorted(m for m in result[2:] if m.split(".")[0] in ("re", "enum", "lark", "typer", "pydantic"))
    assert heavy == [], f"a warm `execpolicy check` imported {heavy}"


def test_typer_command_behaves_like_fast_path(tmp_path, monkeypatch, capsys):
    from cordon.policy.cli import app
    from cordon.policy.commands.check import run
    from typer.testing import CliRunner

    f = tmp_path / "t.rules"
    f.write_text(RULES)
    cases = (
        ["-r", str(f), "--pretty", "git", "push"],
        ["-r", str(f)],
        ["-r", str(tmp_path / "missing"), "x"],
        ["-r", str(f), "--", "--", "git", "push"],
        ["-r", str(f), "-rf", "--pretty"],
    )
    for args in cases:
        code = run(list(args))
        fast = capsys.readouterr()
        res = CliRunner().invoke(app, ["check", *args])
        assert res.exit_code == code
        assert res.stdout == fast.out
        assert res.stderr == fast.err


def test_rules_dirs_like_codex_but_never_silent(tmp_path):
    from cordon.policy import discover_rules, load_rules_dirs

    user = tmp_path / "user"
    proj = tmp_path / "proj"
    user.mkdir()
    proj.mkdir()
    (user / "b.rules").write_text('prefix_rule(pattern=["x"], decision="allow")')
    (user / "a.rules").write_text('prefix_rule(pattern=["x"], decision="prompt")')
    (user / ".hidden.rules").write_text('prefix_rule(pattern=["h"])')
    (user / ".rules").write_text("broken(")  # not a rules file name for Codex
    (user / "UPPER.RULES").write_text("broken(")  # case-sensitive extension
    (user / "sub").mkdir()
    (user / "sub" / "deep.rules").write_text("broken(")  # no recursion
    target = tmp_path / "shared.rules"
    target.write_text('prefix_rule(pattern=["s"], decision="forbidden")')
    (proj / "linked.rules").symlink_to(target)  # Codex would skip it silently
    files = discover_rules(user, proj)
    assert [Path(f).name for f in files] == [".hidden.rules", "a.rules", "b.rules", "linked.rules"]
    p = load_rules_dirs(user, proj)
    assert [m.decision for m in p.check(["x"]).matches] == ["prompt", "allow"]
    assert p.check(["s"]).decision == "forbidden"
    (proj / "dangling.rules").symlink_to(tmp_path / "gone.rules")
    with pytest.raises(PolicyError, match="broken symbolic link"):
        discover_rules(proj)
    (user / "c.rules").write_text('prefix_rule(pattern=["x"], decision="nope")')
    with pytest.raises(PolicyError) as ei:
        load_rules_dirs(user)
    assert ei.value.file.endswith("c.rules")


def test_parser_tables_are_built_from_the_grammar_and_a_stale_file_is_ignored(tmp_path, monkeypatch):
    from cordon.policy.starlark import syntax
    from lark import Lark

    src = (REPO / "rules" / "default.rules").read_text()
    tables = tmp_path / "starlark.tables"
    monkeypatch.setattr(syntax, "TABLES_PATH", tables)
    syntax.write_tables(tables)
    grammar = Path(syntax.GRAMMAR_PATH).read_text()
    loaded = syntax._load_tables(grammar)
    assert loaded is not None
    fresh = Lark(grammar, **syntax._lark_options())
    assert loaded.parse(src) == fresh.parse(src)
    # Tables of another grammar (or another Lark) are never used: the parser is built afresh.
    assert syntax._load_tables(grammar + "\n// changed\n") is None
    tables.write_bytes(b"\x00garbage")
    assert syntax._load_tables(grammar) is None
    monkeypatch.setattr(syntax, "_parsers", {})
    assert syntax.parse("x = 1\n")[0][0] == "assign"


def test_parser_state_is_never_read_from_a_user_cache(tmp_path, monkeypatch):
    """The parser used to keep Lark's grammar cache (a pickle: code runs when it loads) in
    $XDG_CACHE_HOME, which a sandboxed command may be able to write. Nothing of the parser may
    come from there now: the tables ship with the install."""
    import builtins

    from cordon.policy.starlark import syntax

    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setattr(syntax, "_parsers", {})
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *a, **kw):
        opened.append(os.fspath(file) if isinstance(file, str | os.PathLike) else repr(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy)
    assert syntax.parse("x = 1\n")[0][0] == "assign"
    assert opened, "the spy saw no file at all: it proves nothing"
    assert not [p for p in opened if p.startswith(str(xdg))], opened
    assert not xdg.exists()


def test_budget_leaves_room_for_real_files():
    # 20,000 appends in a loop plus 2,000 generated rules: well inside the budget.
    p = load_policy(
        text="L = []\nfor i in range(20000):\n    L.append(str(i))\n"
        'for t in L[:2000]:\n    prefix_rule(pattern=["tool", t], decision="prompt")\n'
    )
    assert len(p.rules) == 2000
    assert p.check(["tool", "1999"]).decision == "prompt"


def test_shipped_names_resolve_like_policy_shipped(tmp_path, monkeypatch):
    from cordon.policy.engine import read_source
    from cordon.policy.shipped import list_shipped, resolve_rules_path

    monkeypatch.chdir(tmp_path)  # no local file shadows a shipped name
    shipped = list_shipped()
    if not shipped:
        pytest.skip("no shipped rule sets in this checkout (rules/ is owned by another package)")
    for name in list(shipped)[:5]:
        assert Path(read_source(name)[1]).resolve() == Path(resolve_rules_path(name)).resolve()
    with pytest.raises(RulesError):
        read_source("no-such-shipped-set")


# Recorded from Codex 0.169.0 (`codex execpolicy check`): bytes literals are a type of their own
# in starlark-rust, so Codex's builtins reject them where a string is wanted.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'prefix_rule(pattern=[b"a"])',
            "invalid pattern element: pattern element must be a string or list of strings (got bytes)",
        ),
        (
            'prefix_rule(pattern=["a", b"x"])',
            "invalid pattern element: pattern element must be a string or list of strings (got bytes)",
        ),
        (
            'prefix_rule(pattern=[["a", b"y"]])',
            "invalid pattern element: pattern alternative must be a string (got bytes)",
        ),
        (
            'prefix_rule(pattern=["a"], match=[b"a"])',
            "invalid example: example must be a string or list of strings (got bytes)",
        ),
        (
            'prefix_rule(pattern=["a"], justification=b"x")',
            'Type of parameter `justification` doesn\'t match, expected `str`, actual `bytes (repr: b"x")`',
        ),
        (
            'host_executable(name=b"a", paths=["/a"])',
            'Type of parameter `name` doesn\'t match, expected `str`, actual `bytes (repr: b"a")`',
        ),
    ],
)
def test_bytes_literal_is_rejected_where_codex_rejects_it(text, message):
    with pytest.raises(RulesError) as ei:
        load_policy(text=text, name="b.rules")
    assert ei.value.message == message and ei.value.line == 1


@pytest.mark.parametrize(
    ("expr", "shown"),
    [  # Codex's own values (decision=repr(x) makes it print them)
        ('str(b"a")', '"a"'),
        ('b"a" + b"b"', 'b"ab"'),
        ('type(b"a")', '"bytes"'),
        ('repr(b"a\\x80")', '"b\\"a\\\\x80\\""'),
        ('str(b"\\xff")', '"\\ufffd"'),
        ('b"\\101"', 'b"A"'),
        ('b"a" == "a"', "False"),
        ('len(b"ab")', "2"),
    ],
)
def test_bytes_values_match_codex(expr, shown):
    with pytest.raises(RulesError) as ei:
        load_policy(text=f'x = {expr}\nprefix_rule(pattern=["a"], decision=repr(x))', name="b.rules")
    assert ei.value.message == f"invalid decision: {shown}"


def test_str_of_bytes_is_a_usable_token():
    pol = load_policy(text='prefix_rule(pattern=[str(b"git")])')
    assert pol.check(["git"]).decision == "allow"
