"""Shell splitting (policy.shell): Codex's plain subset, the loose rules mode, the heredoc fallback."""

from __future__ import annotations

import pytest
from cordon.policy.shell import (
    literal_commands,
    parse_heredoc_command_prefix,
    parse_plain_commands,
    shell_script,
    split_for_exec_policy,
    split_plain,
    stdin_scripts,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def plain(script: str):
    commands = parse_plain_commands(script)
    return None if commands is None else [c.argv for c in commands]


def loose(script: str):
    commands = parse_plain_commands(script, loose=True)
    return None if commands is None else [c.argv for c in commands]


# Accepted by Codex's word-only mode (execpolicy.md 6.1, patch_safety.md 3.2).
PLAIN_ACCEPTED = [
    ("ls", [["ls"]]),
    ("ls && pwd; echo 'hi there' | wc -l", [["ls"], ["pwd"], ["echo", "hi there"], ["wc", "-l"]]),
    ('git commit -m "line1\nline2"', [["git", "commit", "-m", "line1\nline2"]]),
    ('rg -g"*.py" foo', [["rg", "-g*.py", "foo"]]),
    ('"/usr"\'/\'"local"/bin', [["/usr/local/bin"]]),
    ("ls || true", [["ls"], ["true"]]),
    ("ls\npwd", [["ls"], ["pwd"]]),
    ("ls;", [["ls"]]),
    ("head -n 10 file", [["head", "-n", "10", "file"]]),
    ("echo ''", [["echo", ""]]),
    ('echo ""', [["echo", ""]]),
    # No backslash unescaping (Codex takes word text verbatim).
    ("echo a\\ b", [["echo", "a\\ b"]]),
    ('echo "a\\"b"', [["echo", 'a\\"b']]),
    # A quoted program name is one word: never safe, never matches `git`.
    ("'git status'", [["git status"]]),
    ("cat a | grep b | wc -l", [["cat", "a"], ["grep", "b"], ["wc", "-l"]]),
    ("ls *.py", [["ls", "*.py"]]),
]

# Rejected by the plain mode (each listed in the research notes).
PLAIN_REJECTED = [
    "(ls)",
    "{ ls; }",
    "ls > out.txt",
    "ls 2>&1",
    "cat < in",
    "echo $(pwd)",
    "echo `pwd`",
    'echo "$HOME"',
    "echo $HOME",
    "echo ${HOME}",
    "FOO=bar ls",
    "ls &&",
    "&& ls",
    "ls ;; pwd",
    "ls | | wc",
    "echo hi & echo bye",
    "ls &",
    "if true; then ls; fi",
    "for i in a; do echo $i; done",
    "while true; do ls; done",
    "case x in x) ls;; esac",
    "f() { ls; }",
    "cat <<EOF\nhi\nEOF",
    "cat <<< hi",
    "# comment\nls",
    "echo $'a\\nb'",
    "echo <(ls)",
    "! ls",
    "[[ -f x ]]",
    "echo {a,b}",
    "x=1",
    "",
    "   \n  ",
    "'unterminated",
    'echo "unterminated',
    "ls |& wc",
]


@pytest.mark.parametrize(("script", "expected"), PLAIN_ACCEPTED)
def test_plain_accepts(script, expected):
    assert plain(script) == expected


@pytest.mark.parametrize("script", PLAIN_REJECTED)
def test_plain_rejects(script):
    assert plain(script) is None


LOOSE = [
    ("ls > out.txt", [["ls"]]),
    ("ls 2>&1 | tee x", [["ls"], ["tee", "x"]]),
    ("make lint 2>&1 | tee /tmp/x", [["make", "lint"], ["tee", "/tmp/x"]]),
    ("FOO=bar ls", [["ls"]]),
    ("FOO= ls -l", [["ls", "-l"]]),
    ("A=1 B='two' make", [["make"]]),
    ("# leading comment\nls", [["ls"]]),
    ("ls && echo hi >> log", [["ls"], ["echo", "hi"]]),
    ("cat < in.txt", [["cat"]]),
    ("echo hello > output.txt", [["echo", "hello"]]),
    # still rejected in loose mode: expansions anywhere, standalone assignments, heredocs
    ("ls > $HOME/x", None),
    ("FOO=$(id) ls", None),
    ('FOO="$X" ls', None),
    ("FOO=1; ls", None),
    ("export A=1; ls", None),
    ("cat <<EOF\nx\nEOF", None),
    ("(ls) > x", None),
    ("echo $(pwd) > x", None),
]


@pytest.mark.parametrize(("script", "expected"), LOOSE)
def test_loose_mode(script, expected):
    assert loose(script) == expected


def test_loose_mode_records_what_it_stripped():
    cmds = parse_plain_commands("A=1 ls > x && pwd", loose=True)
    assert [(c.argv, c.redirects, c.assignments) for c in cmds] == [
        (["ls"], True, ["A=1"]),
        (["pwd"], False, []),
    ]
    # tree-sitter attaches a trailing redirect to the whole list: both commands count as redirected
    cmds = parse_plain_commands("ls && pwd > x", loose=True)
    assert [c.redirects for c in cmds] == [True, True]


HEREDOC = [
    ("python3 <<'PY'\nprint(1)\nPY", ["python3"]),
    ("python3 -u <<'PY'\nimport os\nPY\n", ["python3", "-u"]),
    ("cat <<EOF\nplain text\nEOF", ["cat"]),
    ("cat <<< 'hi'", ["cat"]),
    ("node <<'JS'\n$(rm -rf /)\nJS", ["node"]),  # quoted delimiter: the body is data
    # refused
    ("cat <<EOF\n$(rm -rf ~)\nEOF", None),  # beyond Codex: unquoted body runs $(...) first
    ("cat <<EOF\n$HOME\nEOF", None),
    ('cat <<< "$(id)"', None),
    ("PATH=/tmp/evil:$PATH cat <<EOF\nx\nEOF", None),  # gh #20113
    ("FOO=1 cat <<EOF\nx\nEOF", None),
    ("cat <<EOF > out\nx\nEOF", None),  # file redirect
    ("cat <<EOF | sh\nx\nEOF", None),  # two commands
    ("ls && cat <<EOF\nx\nEOF", None),
    ("ls", None),  # no heredoc at all
    ("$PY <<'X'\nx\nX", None),
]


@pytest.mark.parametrize(("script", "expected"), HEREDOC)
def test_heredoc_prefix(script, expected):
    assert parse_heredoc_command_prefix(script) == expected


@pytest.mark.parametrize(
    ("argv", "script"),
    [
        (["bash", "-lc", "ls"], "ls"),
        (["bash", "-c", "ls"], "ls"),
        (["zsh", "-lc", "ls"], "ls"),
        (["sh", "-c", "ls"], "ls"),
        (["/bin/zsh", "-lc", "ls"], "ls"),
        (["/usr/bin/bash", "-c", "ls"], "ls"),
        (["/tmp/bash", "-c", "ls"], None),  # beyond Codex: an untrusted path is not "bash"
        (["./bash", "-lc", "ls"], None),
        (["bash", "-lc", "git", "status"], None),  # 4 elements: not analysed
        (["bash", "-x", "ls"], None),
        (["bash", "-l", "-c", "ls"], None),
        (["fish", "-c", "ls"], None),
        (["dash", "-c", "ls"], None),
        (["bash"], None),
    ],
)
def test_shell_wrapper_detection(argv, script):
    assert shell_script(argv) == script


@pytest.mark.parametrize(
    ("argv", "kind", "commands"),
    [
        (["bash", "-lc", "ls && pwd"], "plain", [["ls"], ["pwd"]]),
        (["bash", "-lc", "echo hi > f"], "loose", [["echo", "hi"]]),
        (["bash", "-lc", "python3 <<'PY'\nprint(1)\nPY"], "heredoc", [["python3"]]),
        (["bash", "-lc", "echo $(id)"], "whole", [["bash", "-lc", "echo $(id)"]]),
        (["bash", "-lc", ""], "whole", [["bash", "-lc", ""]]),
        (["bash", "-lc", "  "], "whole", [["bash", "-lc", "  "]]),
        (["git", "status"], "whole", [["git", "status"]]),
        (["bash", "-lc", "git", "status"], "whole", [["bash", "-lc", "git", "status"]]),
    ],
)
def test_split_for_exec_policy(argv, kind, commands):
    split = split_for_exec_policy(argv)
    assert split.kind == kind
    assert split.argvs == commands
    assert split.complex == (kind == "heredoc")


def test_split_plain_only_for_shell_wrappers():
    assert split_plain(["bash", "-lc", "ls | wc"]) == [["ls"], ["wc"]]
    assert split_plain(["bash", "-lc", "ls > x"]) is None
    assert split_plain(["ls"]) is None


LITERAL = [
    ("rm -rf x", [["rm", "-rf", "x"]]),
    ('for f in *; do rm -f "$f"; done', [["rm", "-f"]]),
    ("if true; then sudo rm -rf /; fi", [["true"], ["sudo", "rm", "-rf", "/"]]),
    ("echo $(rm -f y)", [["echo"], ["rm", "-f", "y"]]),
    ("(cd x && rm -fr y) > log", [["cd", "x"], ["rm", "-fr", "y"]]),
    ("cmd=rm; $cmd -rf x", []),  # dynamic program names are skipped (as in Codex)
    ("echo 'rm -rf x'", [["echo", "rm -rf x"]]),  # quoted text is not a command
    ("f() { rm -rf /; }; f", [["rm", "-rf", "/"], ["f"]]),
    ("A=1 rm -f x 2>/dev/null", [["rm", "-f", "x"]]),
    ("ls &&", [["ls"]]),  # parse errors do not stop the liberal walk
]


@pytest.mark.parametrize(("script", "expected"), LITERAL)
def test_literal_commands(script, expected):
    assert literal_commands(script) == expected


# Random scripts: the splitter never raises, and what it accepts is consistent.
_ALPHABET = st.sampled_from(
    [*"abc -'\"\\$`|&;<>(){}[]*?=#!~\n\t0123", "&&", "||", "<<EOF\n", "\nEOF\n", "$(", "${", "rm -rf "]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_random_scripts_never_crash(script):
    strict = parse_plain_commands(script)
    relaxed = parse_plain_commands(script, loose=True)
    parse_heredoc_command_prefix(script)
    literal_commands(script)
    split = split_for_exec_policy(["bash", "-lc", script])
    assert split.commands
    if strict is not None:
        # the loose mode accepts a superset of the plain mode, with the same words
        assert relaxed is not None
        assert [c.argv for c in relaxed] == [c.argv for c in strict]
        assert all(c.argv and c.argv[0] is not None for c in strict)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_random_unicode_never_crashes(script):
    parse_plain_commands(script)
    parse_plain_commands(script, loose=True)
    parse_heredoc_command_prefix(script)
    literal_commands(script)


@pytest.mark.parametrize(
    "script", ["echo {a,b}", "rm {-rf,x}", "find . {-delete,}", "echo a{b,c}d", "echo {1..3}"]
)
def test_brace_expansion_is_not_literal(script):
    # Beyond Codex, which takes `{-rf,x}` verbatim although bash expands it.
    assert plain(script) is None
    assert loose(script) is None


def test_brace_expansion_alternatives_reach_the_dangerous_walk():
    assert literal_commands("rm {-rf,x}") == [["rm", "-rf", "x"]]


def test_find_placeholder_is_a_literal_word():
    assert plain("find . -name x -exec grep foo {} +") == [
        ["find", ".", "-name", "x", "-exec", "grep", "foo", "{}", "+"]
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("bash <<EOF\nrm -rf x\nEOF", ["rm -rf x\n"]),
        ("/bin/sh -s <<'X'\nls\nX", ["ls\n"]),
        ("sh <<< 'rm -rf y'", ["rm -rf y"]),
        ("cat <<EOF\nrm -rf x\nEOF", []),
        ("python3 <<< 'x'", []),
        ("ls", []),
    ],
)
def test_stdin_scripts(script, expected):
    assert stdin_scripts(script) == expected


@pytest.mark.parametrize("depth", [2000])
def test_deeply_nested_scripts_do_not_exhaust_the_stack(depth):
    from cordon.policy.safety import command_might_be_dangerous

    script = "( " * depth + "rm -rf x" + " )" * depth
    assert plain(script) is None
    assert command_might_be_dangerous(["bash", "-lc", script])
    assert split_for_exec_policy(["bash", "-lc", "$(" * depth + "ls" + ")" * depth]).kind == "whole"
