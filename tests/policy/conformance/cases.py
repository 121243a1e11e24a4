"""Conformance case definitions: rules files + `execpolicy check` arguments.

The expected outputs come from running the real ``codex execpolicy check`` (0.169.0) on each
case (``generate.py``) and are stored in ``cases.json``; the tests never need Codex.
"""

from __future__ import annotations

CASES: list[dict] = []


def case(name, files, args, **extra):
    if isinstance(files, str):
        files = {"r.rules": files}
    CASES.append({"name": name, "files": files, "args": args, **extra})


def R(name, content, *argv, flags=(), **extra):
    """One rules file ``r.rules``; ``argv`` is the command."""
    case(name, content, ["-r", "r.rules", *flags, *argv], **extra)


GIT = 'prefix_rule(pattern=["git", "status"], decision="prompt", justification="j")\n'

# ---------------------------------------------------------------- grammar: accepted constructs
R("comments", "# whole line\nprefix_rule(pattern=['git'])  # trailing\n# end", "git", "x")
R("empty_file", "", "git")
R("only_comments", "# a\n\n   # b\n", "git")
R("crlf", 'prefix_rule(\r\n    pattern=["git"],\r\n    decision="prompt",\r\n)\r\n', "git", "st")
R("single_quotes", "prefix_rule(pattern=['a b', 'c'], decision='forbidden')", "a b", "c")
R("triple_double", 'prefix_rule(pattern=["""x\ny"""])', "x\ny")
R("triple_single", "prefix_rule(pattern=['''it's'''])", "it's")
R("raw_string", "prefix_rule(pattern=[r\"a\\nb\", r'\\d+'])", "a\\nb", "\\d+")
R("escapes_basic", 'prefix_rule(pattern=["t\\tn\\nq\\"s\\\'b\\\\"])', "t\tn\nq\"s'b\\")
R("escapes_hex_octal", 'prefix_rule(pattern=["\\x41\\101\\u00e9\\U0001F600"])', "AAé😀")
R("escape_control_json", 'prefix_rule(pattern=["a\\x01\\x1f\\x7fz"])', "a\x01\x1f\x7fz")
R("fstring", 'X = "git"\nprefix_rule(pattern=[f"{X}", f"{X}-{{lit}}"])', "git", "git-{lit}")
R("percent_format", 'prefix_rule(pattern=["%s-%d" % ("a", 3)])', "a-3")
R("str_format", 'prefix_rule(pattern=["{}/{x}".format("a", x="b")])', "a/b")
R("str_split", 'prefix_rule(pattern="npm run dev".split())', "npm", "run", "dev", "--x")
R(
    "str_methods",
    'prefix_rule(pattern=[" GIT ".strip().lower(), "-".join(["a","b"]), "ab".upper()])',
    "git",
    "a-b",
    "AB",
)
R(
    "nested_lists_trailing",
    'prefix_rule(\n  pattern=[\n    "git",\n    ["push", "fetch",],\n  ],\n  decision="prompt",\n)',
    "git",
    "fetch",
)
R("dict_literal", 'D = {"a": "allow", "b": "prompt",}\nprefix_rule(pattern=["x"], decision=D["b"])', "x")
R(
    "dict_comprehension",
    'D = {k: v for k, v in [("x", "forbidden")]}\nprefix_rule(pattern=["x"], decision=D["x"])',
    "x",
)
R("list_comprehension", 'for t in [["t%d" % i] for i in range(3)]:\n    prefix_rule(pattern=t)', "t2")
R("list_comp_if", 'prefix_rule(pattern=[[c for c in ["a","b","c"] if c != "b"]])', "c")
R("tuple_unpack", 'a, b = ("git", "log")\nprefix_rule(pattern=[a, b])', "git", "log")
R("implicit_join", 'prefix_rule(pattern=["a",\n\n    "b"], decision=\n  "prompt")', "a", "b")
R("backslash_continuation", 'prefix_rule(pattern=["a"], \\\n  decision="prompt")', "a")
R("semicolons", 'X = ["a"]; prefix_rule(pattern=X); prefix_rule(pattern=X, decision="prompt");', "a")
R("reassign", 'X = ["a"]\nX = ["b"]\nprefix_rule(pattern=X)', "b")
R(
    "augmented_assign",
    'X = ["a"]\nX += ["b"]\nN = 1\nN += 2\nprefix_rule(pattern=X + [str(N)])',
    "a",
    "b",
    "3",
)
R(
    "if_elif_else",
    'M = 2\nif M == 1:\n    D = "allow"\nelif M == 2:\n    D = "prompt"\nelse:\n    D = "forbidden"\nprefix_rule(pattern=["x"], decision=D)',
    "x",
)
R(
    "for_break_continue",
    'for c in ["a", "b", "c", "d"]:\n    if c == "b":\n        continue\n    if c == "d":\n        break\n    prefix_rule(pattern=[c])',
    "c",
)
R(
    "for_break_skips",
    'for c in ["a", "b", "c", "d"]:\n    if c == "b":\n        continue\n    if c == "d":\n        break\n    prefix_rule(pattern=[c])',
    "d",
)
R(
    "def_args_kwargs",
    'def r(*toks, **kw):\n    prefix_rule(pattern=list(toks), **kw)\nr("git", "push", decision="forbidden", justification="no")',
    "git",
    "push",
)
R(
    "def_annotations_pass",
    'def f(x: str, y: int = 1) -> None:\n    pass\n    prefix_rule(pattern=[x])\nf("a")',
    "a",
)
R(
    "nested_def",
    'def outer():\n    def inner(p):\n        prefix_rule(pattern=p)\n    inner(["n"])\nouter()',
    "n",
)
R(
    "recursion_bounded",
    'def f(n):\n    if n == 0:\n        return []\n    return ["x"] + f(n - 1)\nprefix_rule(pattern=f(3))',
    "x",
    "x",
    "x",
)
R(
    "lambda_ternary",
    'mk = lambda t, p=False: prefix_rule(pattern=[t], decision="prompt" if p else "allow")\nmk("a", True)',
    "a",
)
R(
    "append_in_function",
    'L = []\ndef add(t):\n    L.append(t)\nadd("a")\nadd("b")\nprefix_rule(pattern=L)',
    "a",
    "b",
)
R(
    "positional_builtin_args",
    'prefix_rule(["git", "push"], "forbidden", ["git push"], ["git pull"], "nope", False)',
    "git",
    "push",
)
R("kwargs_dict", 'prefix_rule(**{"pattern": ["a"], "decision": "prompt"})', "a")
R(
    "std_builtins",
    'L = sorted(reversed(["b", "a"]))\nprefix_rule(pattern=[L[0], str(len(L)), str(max(1, 5)), str(min([3, 2])), str(abs(-4)), repr("q")])',
    "a",
    "2",
    "5",
    "2",
    "4",
    '"q"',
)
R(
    "std_builtins_2",
    'E = [str(i) + t for i, t in enumerate(["a", "b"])]\nZ = [x + y for x, y in zip(["p", "q"], ["1", "2"])]\nprefix_rule(pattern=E + Z + [str(any([0, 1])), str(all([])), type([]), str(bool(""))])',
    "0a",
    "1b",
    "p1",
    "q2",
    "True",
    "True",
    "list",
    "False",
)
R(
    "std_builtins_3",
    'prefix_rule(pattern=[str(int("42") + 1), chr(ord("a") + 1), str(hasattr("x", "upper")), getattr("ab", "upper")(), str(tuple([1])[0]), str(list(range(2, 4)))])',
    "43",
    "b",
    "True",
    "AB",
    "1",
    "[2, 3]",
)
R(
    "dict_methods",
    'D = {"a": 1}\nD["b"] = 2\nprefix_rule(pattern=[k for k in D.keys()] + [str(D.get("z", 9))])',
    "a",
    "b",
    "9",
)
R("slice", 'L = ["a", "b", "c", "d"]\nprefix_rule(pattern=L[1:3] + L[::-1][:1])', "b", "c", "d")
R("string_concat", 'prefix_rule(pattern=["a" + "b", "c" * 2])', "ab", "cc")
R(
    "int_float_ops",
    "prefix_rule(pattern=[str(7 // 2), str(7 % 3), str(2 * 3 - 1), str(1 if 3 > 2 and not False else 0)])",
    "3",
    "1",
    "5",
    "1",
)
R(
    "in_operator",
    'X = ["a", "b"]\nprefix_rule(pattern=["a" if "a" in X else "z", "y" if "q" not in X else "n"])',
    "a",
    "y",
)
R("bool_none_literals", 'prefix_rule(pattern=["x"], canonical_matching=True if None == None else False)', "X")
R("hash_dir", 'prefix_rule(pattern=[str(hash("a")), str("split" in dir(""))])', "97", "True")

# ---------------------------------------------------------------- grammar: rejected
R("reject_load", 'load("other.star", "x")\nprefix_rule(pattern=["a"])', "a")
R("reject_print", 'print("hi")', "a")
R("reject_struct", "S = struct(a=1)", "a")
R("reject_set", "S = set([1])", "a")
R("reject_isinstance", "X = isinstance(1, int)", "a")
R("reject_json", "X = json.encode([])", "a")
R("reject_while", "while True:\n    pass", "a")
R("reject_class", "class A:\n    pass", "a")
R("reject_import", "import os", "a")
R("reject_adjacent_strings", 'prefix_rule(pattern=["a" "b"])', "ab")
R("reject_tab_indent", 'if True:\n\tprefix_rule(pattern=["a"])', "a")
R("reject_tab_inline", 'prefix_rule(pattern=["a"],\tdecision="prompt")', "a")
R("reject_unexpected_indent", '  prefix_rule(pattern=["a"])', "a")
R("reject_bom", '\ufeffprefix_rule(pattern=["a"])', "a")
R("reject_non_utf8", {"b64": "cHJlZml4X3J1bGUocGF0dGVybj1bIv8iXSk="}, "a")
R("fail_builtin", 'fail("stop here")', "a")
R("fail_in_function", 'def f():\n    fail("deep", 2)\nf()', "a")
R("unknown_function", 'allow_rule(pattern=["a"])', "a")
R("unknown_variable_suggest", 'PATTERN = ["a"]\nprefix_rule(pattern=PATTERNS)', "a")
R("unclosed_paren", 'prefix_rule(pattern=["a"]\n', "a")
R("unclosed_paren_next_stmt", 'prefix_rule(pattern=["a"]\nX = 1\n', "a")
R("double_comma", 'prefix_rule(pattern=["a"],, decision="allow")', "a")
R("repeated_keyword", 'prefix_rule(pattern=["a"], decision="allow", decision="prompt")', "a")
R("unterminated_string", 'prefix_rule(pattern=["a])', "a")
R("missing_rhs", "X =\n", "a")
R("bad_assign_target", "1 = 2", "a")
R("runtime_type_error", 'X = 1 + "a"', "a")
R("runtime_type_error_in_def", 'def f():\n    return 1 + "a"\nf()', "a")
R("runtime_index_error", 'X = ["a"][3]', "a")
R("runtime_key_error", 'X = {"a": 1}["b"]', "a")
R("deep_recursion", "def f(n):\n    return f(n + 1)\nf(0)", "a")
R("call_non_function", 'X = "a"()', "a")
R("attr_missing", "X = [].nope", "a")
R(
    "long_line_traceback",
    'prefix_rule(pattern=["git"], decision="nope", justification="' + "j" * 90 + '")',
    "git",
)
R("multiline_error_col1", 'prefix_rule(\n    pattern=["git"],\n    decision="deny",\n)', "git")
R("multiline_error_indented", 'def f():\n  prefix_rule(pattern=["git"],\n     decision="x"   )\nf()', "git")
R("error_line_10", "\n" * 9 + 'prefix_rule(pattern=["git"],\n decision="deny")', "git")

# ---------------------------------------------------------------- prefix_rule errors
R("pr_decision_deny", 'prefix_rule(pattern=["git"], decision="deny")', "git")
R("pr_decision_case", 'prefix_rule(pattern=["git"], decision="Allow")', "git")
R("pr_decision_int", 'prefix_rule(pattern=["git"], decision=1)', "git")
R("pr_decision_none", 'prefix_rule(pattern=["git"], decision=None)', "git")
R("pr_justification_none", 'prefix_rule(pattern=["git"], justification=None)', "git")
R("pr_match_none", 'prefix_rule(pattern=["git"], match=None)', "git")
R("pr_not_match_none", 'prefix_rule(pattern=["git"], not_match=None)', "git")
R("pr_pattern_string", 'prefix_rule(pattern="git status")', "git")
R("pr_pattern_tuple", 'prefix_rule(pattern=("git",))', "git")
R("pr_pattern_empty", "prefix_rule(pattern=[])", "git")
R("pr_alternatives_empty", 'prefix_rule(pattern=["a", []])', "a")
R("pr_element_int", 'prefix_rule(pattern=["a", 1])', "a")
R("pr_element_tuple", 'prefix_rule(pattern=["a", ("b",)])', "a")
R("pr_element_none", "prefix_rule(pattern=[None])", "a")
R("pr_alternative_int", 'prefix_rule(pattern=["a", ["b", 1]])', "a")
R("pr_alternative_list", 'prefix_rule(pattern=[["b"], [["c"]]])', "b")
R("pr_missing_pattern", 'prefix_rule(decision="allow")', "git")
R("pr_unknown_keyword", 'prefix_rule(pattern=["git"], foo=1)', "git")
R("pr_unknown_keywords_two", 'prefix_rule(pattern=["git"], foo=1, bar=2)', "git")
R("pr_reviewer_keyword", 'prefix_rule(pattern=["git"], reviewer="user")', "git")
R("pr_seven_positionals", 'prefix_rule(["git"], "allow", [], [], "j", False, 1)', "git")
R("pr_positional_and_keyword", 'prefix_rule(["git"], pattern=["x"])', "git")
R("pr_justification_empty", 'prefix_rule(pattern=["git"], justification="")', "git")
R("pr_justification_spaces", 'prefix_rule(pattern=["git"], justification="  \\n ")', "git")
R("pr_canonical_non_bool", 'prefix_rule(pattern=["git"], canonical_matching=1)', "git")
R("pr_order_type_before_decision", 'prefix_rule(pattern=["git"], decision="deny", justification=3)', "git")
R(
    "pr_order_decision_before_justification",
    'prefix_rule(pattern=[], decision="deny", justification="")',
    "git",
)
R("pr_order_justification_before_pattern", 'prefix_rule(pattern=[], justification=" ")', "git")
R("pr_order_pattern_before_examples", "prefix_rule(pattern=[], match=[1])", "git")
R("pr_example_int", 'prefix_rule(pattern=["git"], match=[1])', "git")
R("pr_example_empty_list", 'prefix_rule(pattern=["git"], match=[[]])', "git")
R("pr_example_empty_string", 'prefix_rule(pattern=["git"], match=[""])', "git")
R("pr_example_blank_string", 'prefix_rule(pattern=["git"], not_match=["   "])', "git")
R("pr_example_comment_only", 'prefix_rule(pattern=["git"], match=["# c"])', "git")
R("pr_example_bad_quote", 'prefix_rule(pattern=["git"], match=["a \\"x"])', "git")
R("pr_example_trailing_backslash", 'prefix_rule(pattern=["git"], match=["a \\\\"])', "git")
R("pr_example_token_int", 'prefix_rule(pattern=["git"], match=[["a", 1]])', "git")
R("pr_example_order_match_first", 'prefix_rule(pattern=["git"], match=[1], not_match=[2])', "git")
R("pr_example_not_match_shape", 'prefix_rule(pattern=["git"], match=["git"], not_match=[[]])', "git")

# ---------------------------------------------------------------- examples (load-time validation)
R(
    "ex_match_ok",
    'prefix_rule(pattern=["git", "status"], match=["git status", ["git", "status", "-s"]], not_match=["git log"])',
    "git",
    "status",
)
R("ex_match_unmatched", 'prefix_rule(pattern=["git"], match=["hg x"])', "git")
R(
    "ex_match_requoted",
    'prefix_rule(pattern=["a", "b"], match=["git  push   --force", ["a", "b c$\\"\\\\x"], "a \'q r\' \\"s\\""])',
    "a",
)
R("ex_not_match_hit", 'prefix_rule(pattern=["git", ["a"]], not_match=["git a"])', "git")
R("ex_not_match_list_hit", 'prefix_rule(pattern=["a"], not_match=[["a", "b c"]])', "a")
R("ex_not_match_spaces", 'prefix_rule(pattern=["a"], not_match=["a  b   c"])', "a")
R("ex_not_match_before_match", 'prefix_rule(pattern=["a"], match=["z"], not_match=["a"])', "a")
R(
    "ex_not_match_justification",
    'prefix_rule(pattern=["a"], decision="prompt", justification="x\\"y\\né\\x01", not_match=["a"])',
    "a",
)
R("ex_hash_mid_word", 'prefix_rule(pattern=["a", "b#c"], match=["a b#c", "a b#c # trailing"])', "a", "b#c")
R("ex_hash_word_start", 'prefix_rule(pattern=["a"], match=["a #comment"])', "a")
R(
    "ex_quotes",
    'prefix_rule(pattern=["a", "b c"], match=["a \\"b c\\"", "a \'b c\'", "a b\\\\ c"])',
    "a",
    "b c",
)
R("ex_dollar_literal", 'prefix_rule(pattern=["echo", "$HOME"], match=["echo $HOME"])', "echo", "$HOME")
R("ex_newline_whitespace", 'prefix_rule(pattern=["a", "b"], match=["a\\nb"])', "a", "b")
R("ex_other_call_rule", 'prefix_rule(pattern=["a"])\nprefix_rule(pattern=["b"], match=["a"])', "a")
R(
    "ex_alternatives_first",
    'prefix_rule(pattern=[["a", "b"], "x"], match=["a x", "b x"], not_match=["c x"])',
    "b",
    "x",
)
R("ex_multiple_unmatched", 'prefix_rule(pattern=["a"], match=["b", "a", "c d", ["é", ""]])', "a")
R(
    "ex_canonical",
    'prefix_rule(pattern=["git"], canonical_matching=True, match=["GIT x"], not_match=["hg"])',
    "Git",
)
R(
    "ex_canonical_unmatched_debug",
    'prefix_rule(pattern=["git", ["a", "b"]], canonical_matching=True, match=["git c"])',
    "git",
)
R("ex_host_path_match", 'prefix_rule(pattern=["git"], match=["/usr/bin/git status"])', "git")
R("ex_host_path_not_match_fails", 'prefix_rule(pattern=["git"], not_match=["/usr/bin/git status"])', "git")
R(
    "ex_host_path_excluded",
    'host_executable(name="git", paths=["/opt/git"])\nprefix_rule(pattern=["git"], not_match=["/usr/bin/git status"])',
    "git",
)
R(
    "ex_host_later_same_file",
    'prefix_rule(pattern=["git"], not_match=["/usr/bin/git status"])\nhost_executable(name="git", paths=["/opt/git"])',
    "git",
)
R(
    "ex_host_match_excluded_fails",
    'host_executable(name="git", paths=["/opt/git"])\nprefix_rule(pattern=["git"], match=["/usr/bin/git status"])',
    "git",
)
R(
    "ex_host_allowed_debug",
    'host_executable(name="git", paths=["/usr/bin/git"])\nprefix_rule(pattern=["git"], not_match=["/usr/bin/git x"], justification="é\\n\\x01")',
    "git",
)
case(
    "ex_host_earlier_file",
    {
        "a.rules": 'host_executable(name="git", paths=["/opt/git"])',
        "b.rules": 'prefix_rule(pattern=["git"], not_match=["/usr/bin/git st"])',
    },
    ["-r", "a.rules", "-r", "b.rules", "git"],
)
case(
    "ex_host_later_file_ignored",
    {
        "a.rules": 'prefix_rule(pattern=["git"], not_match=["/usr/bin/git st"])',
        "b.rules": 'host_executable(name="git", paths=["/opt/git"])',
    },
    ["-r", "a.rules", "-r", "b.rules", "git"],
)

# ---------------------------------------------------------------- matching
R("match_prefix_extra_tokens", GIT, "git", "status", "--short", "x")
R("match_shorter_than_pattern", GIT, "git")
R("match_first_token_differs", GIT, "hg", "status")
R("match_no_rules_output", "", "ls")
R("match_case_sensitive", GIT, "Git", "status")
R(
    "match_alternatives_rest",
    'prefix_rule(pattern=["npm", ["run", "exec"], ["test", "lint"]], decision="prompt")',
    "npm",
    "exec",
    "lint",
)
R(
    "match_alternatives_miss",
    'prefix_rule(pattern=["npm", ["run", "exec"], ["test", "lint"]])',
    "npm",
    "run",
    "build",
)
R(
    "match_alternatives_first",
    'prefix_rule(pattern=[["python", "python3"], "-m", "pytest"])',
    "python3",
    "-m",
    "pytest",
    "-q",
)
R("match_duplicate_first_alts", 'prefix_rule(pattern=[["a", "a"], "b"])', "a", "b")
R("match_single_alt", 'prefix_rule(pattern=["git", ["push"]], decision="forbidden")', "git", "push")
R(
    "match_strictest_wins",
    'prefix_rule(pattern=["git"], decision="allow")\nprefix_rule(pattern=["git", "push"], decision="forbidden")\nprefix_rule(pattern=["git", "push", "-f"], decision="prompt")',
    "git",
    "push",
    "-f",
)
R(
    "match_order_declaration",
    'prefix_rule(pattern=["a", "b"], decision="prompt")\nprefix_rule(pattern=["a"], decision="allow")',
    "a",
    "b",
)
R("match_duplicates_kept", 'prefix_rule(pattern=["a"])\nprefix_rule(pattern=["a"])', "a")
R("match_empty_token", 'prefix_rule(pattern=["a", ""])', "a", "")
R("match_empty_command", 'prefix_rule(pattern=[""], decision="prompt")', "")
R("match_space_token", 'prefix_rule(pattern=["a b"])', "a b")
R("match_space_token_split", 'prefix_rule(pattern=["a b"])', "a", "b")
R("match_no_glob", 'prefix_rule(pattern=["rm", "*"])', "rm", "x")
R("match_glob_literal", 'prefix_rule(pattern=["rm", "*"], decision="forbidden")', "rm", "*")
R("match_dash_command", 'prefix_rule(pattern=["-rf"], decision="forbidden")', "-rf")
R("match_flags_after_command", GIT, "git", "status", "--pretty")
R("match_double_dash", 'prefix_rule(pattern=["--", "x"])', "--", "--", "x")
R("match_double_dash_single", GIT, "--", "git", "status")
R("match_unicode_json", 'prefix_rule(pattern=["echo"], justification="café 😀 \\"q\\" \\\\ /")', "echo", "é")
R("match_control_json", 'prefix_rule(pattern=["echo"])', "echo", "a\tb\nc\x01\x08\x0c\r")
R("pretty_match", GIT, "git", "status", flags=("--pretty",))
R("pretty_no_match", GIT, "ls", flags=("--pretty",))
R(
    "pretty_multi",
    'prefix_rule(pattern=["a"])\nprefix_rule(pattern=["a", "b"], decision="forbidden", justification="x")',
    "a",
    "b",
    flags=("--pretty",),
)
R("decision_default_allow", 'prefix_rule(pattern=["a"])', "a")
R("justification_output", 'prefix_rule(pattern=["a"], decision="forbidden", justification="  padded  ")', "a")
R(
    "network_rule_no_effect",
    'network_rule(host="example.com", protocol="https", decision="allow")\nprefix_rule(pattern=["curl"])',
    "curl",
    "x",
)

# ---------------------------------------------------------------- multiple files
case(
    "multi_order",
    {
        "a.rules": 'prefix_rule(pattern=["git"], decision="prompt")',
        "b.rules": 'prefix_rule(pattern=["git"], decision="allow")',
    },
    ["-r", "b.rules", "-r", "a.rules", "git"],
)
case(
    "multi_vars_not_shared",
    {"a.rules": 'X = ["git"]', "b.rules": "prefix_rule(pattern=X)"},
    ["-r", "a.rules", "-r", "b.rules", "git"],
)
case(
    "multi_error_second_file",
    {"a.rules": 'prefix_rule(pattern=["git"])', "b.rules": 'prefix_rule(pattern=["git"], decision="no")'},
    ["-r", "a.rules", "-r", "b.rules", "git"],
)
case(
    "multi_same_file_twice",
    {"a.rules": 'prefix_rule(pattern=["git"])'},
    ["-r", "a.rules", "-r", "a.rules", "git"],
)
case(
    "multi_long_options",
    {"a.rules": 'prefix_rule(pattern=["git"])'},
    ["--rules", "a.rules", "--rules=a.rules", "git"],
)
case("multi_attached_short", {"a.rules": 'prefix_rule(pattern=["git"])'}, ["-ra.rules", "git"])
case(
    "multi_host_last_writer_wins",
    {
        "a.rules": 'host_executable(name="git", paths=["/usr/bin/git"])\nprefix_rule(pattern=["git"], decision="prompt")',
        "b.rules": 'host_executable(name="git", paths=["/opt/bin/git"])',
    },
    ["-r", "a.rules", "-r", "b.rules", "--resolve-host-executables", "/opt/bin/git", "x"],
)
case(
    "multi_host_last_writer_wins_old_path",
    {
        "a.rules": 'host_executable(name="git", paths=["/usr/bin/git"])\nprefix_rule(pattern=["git"], decision="allow")',
        "b.rules": 'host_executable(name="git", paths=["/opt/bin/git"])',
    },
    ["-r", "a.rules", "-r", "b.rules", "--resolve-host-executables", "/usr/bin/git", "x"],
)
case("read_missing_file", {}, ["-r", "missing.rules", "git"])
case("read_directory", {"d/x.rules": ""}, ["-r", "d", "git"])
case(
    "read_error_after_good",
    {"a.rules": 'prefix_rule(pattern=["git"])'},
    ["-r", "a.rules", "-r", "nope.rules", "git"],
)
case(
    "read_path_with_dirs",
    {"sub/dir/r.rules": 'prefix_rule(pattern=["git"], decision="bad")'},
    ["-r", "sub/dir/r.rules", "git"],
)

# ---------------------------------------------------------------- host executables
HOST = 'host_executable(name="git", paths=["/usr/bin/git", "/usr/local/bin/git"])\n' + GIT
H = ("--resolve-host-executables",)
R("host_listed", HOST, "/usr/bin/git", "status", flags=H)
R("host_listed_no_flag", HOST, "/usr/bin/git", "status")
R("host_unlisted_path", HOST, "/tmp/git", "status", flags=H, cordon_default_differs=True)
R(
    "host_unlisted_allow_rule",
    'host_executable(name="git", paths=["/usr/bin/git"])\nprefix_rule(pattern=["git"], decision="allow")',
    "/tmp/git",
    "status",
    flags=H,
)
R("host_no_entry_any_path", GIT, "/weird/place/git", "status", flags=H)
R("host_relative_dot", GIT, "./git", "status", flags=H)
R("host_relative_dir", GIT, "bin/../git", "status", flags=H)
R("host_tilde", GIT, "~/bin/git", "status", flags=H)
R("host_tilde_user", GIT, "~root/git", "status", flags=H)
R("host_double_slash", HOST, "//usr/bin/git", "status", flags=H)
R("host_dot_dot_normalised", HOST, "/usr/local/../bin/git", "status", flags=H)
R("host_trailing_slash", GIT, "/usr/bin/git/", "status", flags=H)
R("host_root", 'prefix_rule(pattern=["/"])', "/", flags=H)
R(
    "host_exact_hides_basename",
    'prefix_rule(pattern=["/usr/bin/git"], decision="allow")\nprefix_rule(pattern=["git"], decision="forbidden")',
    "/usr/bin/git",
    "push",
    flags=H,
)
R(
    "host_paths_empty",
    'host_executable(name="git", paths=[])\n' + GIT,
    "/usr/bin/git",
    "status",
    flags=H,
    cordon_default_differs=True,
)
R(
    "host_paths_normalised_decl",
    'host_executable(name="git", paths=["/usr/local/../bin//git/"])\n' + GIT,
    "/usr/bin/git",
    "status",
    flags=H,
)
R(
    "host_paths_duplicates",
    'host_executable(name="git", paths=["/usr/bin/git", "/usr/bin/git"])\n' + GIT,
    "/usr/bin/git",
    "status",
    flags=H,
)
R(
    "host_redeclare_same_file",
    'host_executable(name="git", paths=["/a/git"])\nhost_executable(name="git", paths=["/b/git"])\n' + GIT,
    "/a/git",
    "status",
    flags=H,
    cordon_default_differs=True,
)
R("host_symlink_not_resolved", HOST, "/bin/git", "status", flags=H, cordon_default_differs=True)
R("host_no_rules_for_basename", HOST, "/usr/bin/hg", "status", flags=H)
R(
    "host_alternatives_first",
    'prefix_rule(pattern=[["python", "python3"], "-c"], decision="prompt")',
    "/usr/bin/python3",
    "-c",
    "x",
    flags=H,
)
R("host_pretty_resolved", GIT, "/usr/bin/git", "status", flags=("--pretty", *H))
R("host_name_empty", 'host_executable(name="", paths=[])', "git")
R("host_name_path", 'host_executable(name="bin/git", paths=[])', "git")
R("host_name_dot", 'host_executable(name=".", paths=[])', "git")
R("host_name_dotdot", 'host_executable(name="..", paths=[])', "git")
R("host_path_relative", 'host_executable(name="git", paths=["bin/git"])', "git")
R("host_path_tilde", 'host_executable(name="git", paths=["~/bin/git"])', "git")
R("host_path_basename_mismatch", 'host_executable(name="git", paths=["/usr/bin/hg"])', "git")
R("host_path_root", 'host_executable(name="git", paths=["/"])', "git")
R("host_path_int", 'host_executable(name="git", paths=[1])', "git")
R("host_path_order", 'host_executable(name="git", paths=["x", 1])', "git")
R("host_missing_paths", 'host_executable(name="git")', "git")
R("host_paths_tuple", 'host_executable(name="git", paths=("/usr/bin/git",))', "git")
R("host_name_int", "host_executable(name=1, paths=[])", "git")

# ---------------------------------------------------------------- canonical matching
CAN = 'prefix_rule(pattern=["git", "status"], decision="prompt", canonical_matching=True)\n'
R("canon_upper", CAN, "GIT", "STATUS")
R("canon_mixed_echo", CAN, "Git", "Status", "x")
R("canon_fullwidth_no", CAN, "ｇｉｔ", "status")
R("canon_dotted_i_no", CAN, "GİT", "status")
R("canon_space_no", CAN, " git", "status")
R("canon_sharp_s", 'prefix_rule(pattern=["straße"], canonical_matching=True)', "STRASSE")
R("canon_ligature", 'prefix_rule(pattern=["ﬁle"], canonical_matching=True)', "file")
R("canon_nfd", 'prefix_rule(pattern=["café"], canonical_matching=True)', "cafe\u0301")
R("canon_kelvin", 'prefix_rule(pattern=["k"], canonical_matching=True)', "\u212a")
R("canon_off_by_default", 'prefix_rule(pattern=["git"])', "GIT")
R("canon_host_fallback", CAN, "/usr/bin/GIT", "Status", flags=H)
R(
    "canon_exact_bucket_plus_other",
    'prefix_rule(pattern=["git"], canonical_matching=True)\nprefix_rule(pattern=["GIT"], decision="prompt")',
    "GIT",
)

# ---------------------------------------------------------------- network_rule
R("net_ok", 'network_rule(host="Example.COM.", protocol="https", decision="deny", justification="x")', "a")
R("net_bad_protocol", 'network_rule(host="a.com", protocol="ftp", decision="allow")', "a")
R(
    "net_protocol_alias",
    'network_rule(host="a.com", protocol="http-connect", decision="allow")\nnetwork_rule(host="a.com", protocol="https_connect", decision="allow")\nnetwork_rule(host="a.com", protocol="socks5_udp", decision="prompt")',
    "a",
)
R("net_decision_ask", 'network_rule(host="a.com", protocol="http", decision="ask")', "a")
R("net_empty_host", 'network_rule(host="  ", protocol="http", decision="allow")', "a")
R("net_scheme", 'network_rule(host="https://a.com", protocol="http", decision="allow")', "a")
R("net_path", 'network_rule(host="a.com/x", protocol="http", decision="allow")', "a")
R("net_wildcard", 'network_rule(host="*.a.com", protocol="http", decision="allow")', "a")
R("net_whitespace", 'network_rule(host="a b.com", protocol="http", decision="allow")', "a")
R("net_ipv6_suffix", 'network_rule(host="[::1]x", protocol="http", decision="allow")', "a")
R(
    "net_ipv6_port_ok",
    'network_rule(host="[::1]:443", protocol="http", decision="allow")\nnetwork_rule(host="a.com:8080", protocol="http", decision="allow")',
    "a",
)
R(
    "net_justification_empty",
    'network_rule(host="a.com", protocol="http", decision="allow", justification="")',
    "a",
)
R("net_order_protocol_first", 'network_rule(host="", protocol="ftp", decision="ask", justification="")', "a")
R("net_missing_decision", 'network_rule(host="a.com", protocol="http")', "a")

# ---------------------------------------------------------------- CLI usage
case("usage_nothing", {}, [])
case("usage_no_command", {"a.rules": ""}, ["-r", "a.rules"])
case("usage_no_rules", {}, ["git"])
case("usage_rules_no_value", {}, ["-r"])
case("usage_unknown_flag_is_command", {"a.rules": ""}, ["--bogus", "-r", "a.rules", "git"])
case("usage_pretty_no_command", {"a.rules": ""}, ["-r", "a.rules", "--pretty"])
case("usage_resolve_no_command", {"a.rules": ""}, ["-r", "a.rules", "--resolve-host-executables", "--pretty"])
case("usage_separator_only", {"a.rules": ""}, ["-r", "a.rules", "--"])
case("cli_command_starting_with_dash", {"a.rules": 'prefix_rule(pattern=["-rf"])'}, ["-r", "a.rules", "-rf"])
case(
    "cli_flags_interleaved",
    {"a.rules": GIT},
    ["--pretty", "-r", "a.rules", "--resolve-host-executables", "/usr/bin/git", "status"],
)

# ---------------------------------------------------------------- more syntax and runtime errors
R("syn_two_exprs", "x = 1 2", "a")
R("syn_if_no_colon", "if True\n    x = 1", "a")
R("syn_def_bad_param", "def f(:\n    pass", "a")
R("syn_unclosed_list_eof", "x = [1, 2", "a")
R("syn_unclosed_dict_eof", 'x = {"a": 1', "a")
R("syn_stray_close", "x = 1)", "a")
R("syn_stray_close_bracket", "]", "a")
R("syn_keyword_as_name", "class = 1", "a")
R("syn_reserved_in_expr", "x = yield", "a")
R("syn_else_alone", "else:\n    pass", "a")
R("syn_dedent_mismatch", "if True:\n        x = 1\n    y = 2", "a")
R("syn_lambda_no_body", "f = lambda:", "a")
R("syn_call_unclosed_string_next", 'prefix_rule(pattern=["a"], decision="allow)\n', "a")
R("syn_comment_after_continuation", 'prefix_rule(pattern=["a"]) \\\n# c\n', "a")
R("syn_int_leading_zero", "x = 012", "a")
R("syn_double_equals_statement", 'x == 1\nprefix_rule(pattern=["a"])', "a")
R("syn_unary_chain", "x = - - 1\nprefix_rule(pattern=[str(x), str(~5), str(+3)])", "1", "-6", "3")
R("rt_mutate_while_iterating", "L = [1]\nfor x in L:\n    L.append(x)", "a")
R("rt_dict_mutate_while_iterating", 'D = {"a": 1}\nfor k in D:\n    D["b"] = 2', "a")
R("rt_attr_suggest", 'X = "a".splt(" ")', "a")
R("rt_attr_suggest_list", "X = [].appendd(1)", "a")
R("rt_attr_no_suggest", "X = [].ap", "a")
R("rt_name_suggest_short", "x = 1\ny = l", "a")
R("rt_name_suggest_builtin", "x = rang(3)", "a")
R("rt_name_suggest_literal", "x = fals", "a")
R("rt_name_in_def_suggest", "def f(abcd):\n    return abce\n", "a")
R("rt_unknown_in_unreached_branch", 'if False:\n    nope()\nprefix_rule(pattern=["a"])', "a")
R("rt_division_by_zero", "x = 1 // 0", "a")
R("rt_compare_types", 'x = 1 < "a"', "a")
R("rt_unpack_mismatch", "a, b = [1, 2, 3]", "a")
R("rt_not_iterable", "for x in 1:\n    pass", "a")
R("rt_string_not_iterable", 'for x in "ab":\n    pass', "a")
R("rt_missing_fn_arg", "def f(a):\n    pass\nf()", "a")
R("rt_extra_fn_arg", "def f(a):\n    pass\nf(1, 2)", "a")
R("rt_unknown_fn_kwarg", "def f(a):\n    pass\nf(b=1)", "a")
R("rt_fail_multiple_args", 'fail("a", 1, [2])', "a")
R(
    "rt_nested_call_traceback",
    'def g():\n    prefix_rule(pattern=["a"], decision="nope")\ndef f():\n    g()\nf()',
    "a",
)
R("rt_builtin_in_comprehension", 'X = [prefix_rule(pattern=[t], decision="x") for t in ["a"]]', "a")
R("rt_percent_missing_arg", 'x = "%s %s" % ("a",)', "a")
R(
    "rt_format_tuple_repr",
    'prefix_rule(pattern=["%r" % ("a",), str((1, "b")), str({"k": [True, None]})])',
    '"a"',
    '(1, "b")',
    '{"k": [True, None]}',
)
R("rt_str_of_float", "prefix_rule(pattern=[str(1 / 2), str(3.0), str(float(2))])", "0.5", "3.0", "2.0")
R(
    "ok_string_methods_more",
    'prefix_rule(pattern=["a,b".split(","), "x".join(["1", "2"]), "  a ".rstrip(), "abc".replace("b", "")])',
    "a",
    "1x2",
    "  a",
    "ac",
)
R(
    "ok_pattern_from_dict_loop",
    'TOOLS = {"ls": "allow", "rm": "forbidden"}\nfor t, d in TOOLS.items():\n    prefix_rule(pattern=[t], decision=d)',
    "rm",
    "-rf",
)
R(
    "ok_triple_quoted_multiline_justification",
    'prefix_rule(pattern=["a"], decision="prompt", justification="""line1\nline2""")',
    "a",
)
R("ok_escaped_newline_in_string", 'prefix_rule(pattern=["a\\\nb"])', "ab")
R("ok_unicode_identifiers_rejected", "é = 1", "a")


# ---------------------------------------------------------------- evaluator semantics (value shown as justification)
def J(name, expr, prelude=""):
    R(name, prelude + 'prefix_rule(pattern=["x"], justification="v=" + str(' + expr + "))", "x")


J("val_fstring_expr_attr", 'f"{X}"', 'X = [1, "a"]\n')
J("val_hex_oct_bin", "[0x1F, 0o17, 0b101, 0]")
J("val_float_repr", "[1.5, 2.0, 1e20, 1e-7, 0.1 + 0.2, 3.0 / 2]")
J("val_int_div_negative", "[-7 // 2, -7 % 3, 7 % -3, 7 // -2]")
J("val_float_ops", "[7.5 // 2, 7.5 % 2, -0.0]")
J("val_big_int", "[2 * 1000000000 * 1000000000 * 10, -(1 << 70)]")
J("val_negative_index", '[[1, 2, 3][-1], "abc"[-2], "abc"[1:], "abcdef"[::2], "abc"[::-1]]')
J("val_elems", '"ab".elems()')
J("val_sorted_key_reverse", 'sorted(["bb", "a", "ccc"], key=len, reverse=True)')
J("val_min_max_key", '[min(["bb", "a"], key=len), max([3, 1, 2]), max("b", "a")]')
J("val_enumerate_start", 'enumerate(["a", "b"], 1)')
J("val_range_neg_step", "list(range(5, 0, -2))")
J("val_range_repr", "range(3)")
J(
    "val_type_names",
    '[type(None), type(1), type(1.5), type("s"), type([]), type({}), type((1,)), type(True), type(len), type(lambda: 1)]',
)
J("val_str_none_bool", '[str(None), str(True), repr(None), repr("q")]')
J("val_bool_arith", "True + 1")
J("val_int_float_eq", '[1 == 1.0, 1 < 1.5, "a" < "b", [1] < [2], (1, 2) < (1, 3)]')
J("val_percent_d_float", '"%d" % 3.7')
J("val_percent_r_s", '"%s|%r|%%" % ("a", "a")')
J("val_percent_width", '"%5s" % "a"')
J("val_format_index", '"{1}{0}{1}".format("a", "b")')
J("val_format_braces", '"{{}} {}".format(1)')
J("val_join_non_string", '",".join([1])')
J("val_dict_ctor", '[dict(a=1), dict([("b", 2)]), dict({"c": 3}, d=4)]')
J("val_dict_order_update", 'D = {"b": 1, "a": 2}\nD["c"] = 3\nD.update(a=0)\nv = D', "")
J("val_dict_items_keys", '[{"a": 1}.items(), {"a": 1}.keys(), {"a": 1}.values()]')
J("val_dict_get_pop", '[{"a": 1}.get("a"), {"a": 1}.get("b"), {"a": 1}.pop("a"), {}.pop("z", 5)]')
J("val_tuple_list", "[tuple([1, 2]), list((1, 2)), (1,), ()]")
J("val_any_all_empty", "[any([]), all([]), any([0, 1]), all([1, 0])]")
J(
    "val_string_methods",
    '["a-b-c".split("-", 1), "a b  c".split(), " x ".strip(), "xxaxx".strip("x"), "Hello".lower(), "abc".startswith(("x", "a")), "abc".find("c"), "aXbX".count("X"), "a\\nb".splitlines(), "k=v".partition("=")]',
)
J(
    "val_string_methods_2",
    '["ab".title(), "ab".capitalize(), "AB".isupper(), "12".isdigit(), " ".isspace(), "abc".removeprefix("a"), "abc".replace("b", "B", 1), "a,b,c".rsplit(",", 1), "abc".index("b")]',
)
J(
    "val_list_methods",
    "L = [3, 1]\nL.insert(0, 9)\nL.extend([7])\nL.remove(1)\nv = [L, L.pop(), L.index(3), L]",
    "",
)
J("val_in_operators", '["a" in "cat", 1 in [1], "k" in {"k": 1}, 2 in range(3), "z" not in "abc"]')
J("val_conditional_chain", '"a" if False else "b" if True else "c"')
J("val_and_or_values", '[0 or "x", 1 and "y", None or [], "" and 5]')
J("val_nested_comprehension", "[[i, j] for i in range(2) for j in range(2) if i != j]")
J("val_dict_comprehension_order", '{k: len(k) for k in ["bb", "a"]}')
J("val_lambda_closure", "def mk(n):\n    return lambda x: x + n\nv = mk(2)(3)", "")
J("val_default_args_eval", "def f(a, b = [1]):\n    return b\nv = [f(0), f(0, 2)]", "")
J("val_kwargs_order", "def f(**kw):\n    return kw\nv = f(b=1, a=2)", "")
J("val_args_tuple", 'def f(*a):\n    return a\nv = f(1, "x")', "")
J("val_hash_values", '[hash(""), hash("abc"), hash("😀")]')
J("val_chr_ord_unicode", '[chr(233), ord("é"), chr(128512)]')
J("val_str_of_list_nested", '[["a", ("b",)], {"k": None}]')
J("val_repr_escapes", 'repr("a\\tb\\n\\"c\\\\\\x01é")')
J("val_int_conversions", '[int("0x1f", 16), int("-12"), int(3.9), int(True), int("10", 2)]')
J("val_float_conversions", '[float("1.5"), float(2), float("inf"), float("-1e3")]')
J("val_bool_conversions", '[bool(0), bool([]), bool("x"), bool(None), bool(0.0)]')
J("val_getattr_default", '[getattr("a", "nope", 1), hasattr([], "append"), hasattr({}, "nope")]')
J("val_dir_list", "dir([])")
J("val_reversed_sorted_mixed", "reversed(sorted([3, 1, 2]))")
J("val_zip_uneven", 'zip([1, 2, 3], ["a", "b"])')
J("val_string_mult_neg", '["ab" * 0, "ab" * -1, [1] * 2]')
J("val_augassign_list_alias", "A = [1]\nB = A\nB += [2]\nv = A", "")
J("val_unicode_len", '[len("é"), len("😀"), len("\\u00e9")]')
J("val_escape_unknown", '"\\d"')
J("val_escape_octal_nul", '["\\0", "\\101"]')
J("val_bytes_literal", 'b"x"')
J("val_fstring_non_identifier", 'f"{1 + 2}"')
J("val_shift_ops", "[1 << 3, 256 >> 4, 5 & 3, 5 | 3, 5 ^ 3, ~5]")

# ---------------------------------------------------------------- more layout errors
R("lay_indent_line2", "x = 1\n  y = 2\n", "a")
R("lay_indented_comment_ok", 'x = 1\n    # indented comment\nprefix_rule(pattern=["a"])\n', "a")
R("lay_blank_lines_with_spaces", 'x = 1\n   \n\t\nprefix_rule(pattern=["a"])\n', "a")
R("lay_def_no_body_eof", "def f():\n", "a")
R("lay_for_no_body_eof", "for x in []:", "a")
R("lay_unclosed_multiline_list", "x = [1,\n  2,\n", "a")
R("lay_unterminated_triple", 'x = """abc\n\n', "a")
R("lay_unterminated_single_eof", "x = 'a", "a")
R("lay_backslash_eof", "x = 1 \\", "a")
R("lay_dollar", "x = $y", "a")
R(
    "lay_nested_dedent_ok",
    'def f():\n    if True:\n        return ["a"]\n    return []\nprefix_rule(pattern=f())\n',
    "a",
)
R("lay_semicolon_trailing", 'prefix_rule(pattern=["a"]);\n', "a")
R("lay_double_semicolon", "x = 1;;\n", "a")
R("lay_if_inline_body", 'if True: prefix_rule(pattern=["a"])\n', "a")
R("lay_crlf_error_position", 'x = 1\r\nprefix_rule(pattern=["a"], decision="no")\r\n', "a")

# ---------------------------------------------------------------- more matching and CLI
R("m_nfc_vs_nfd_without_canonical", 'prefix_rule(pattern=["café"])', "cafe\u0301")
R(
    "m_canonical_alternatives_rest",
    'prefix_rule(pattern=["git", ["PUSH", "Fetch"]], decision="forbidden", canonical_matching=True)',
    "Git",
    "push",
    "-f",
)
R(
    "m_canonical_first_alternatives",
    'prefix_rule(pattern=[["Make", "GMAKE"]], canonical_matching=True)',
    "gmake",
    "all",
)
R(
    "m_canonical_host_entry",
    'host_executable(name="git", paths=["/usr/bin/git"])\n' + CAN,
    "/usr/bin/GIT",
    "status",
    flags=H,
    cordon_default_differs=True,
)
R("m_host_entry_later_file_applies_at_check", GIT, "/opt/git", "status", flags=H)
case(
    "m_host_entry_in_second_file",
    {"a.rules": GIT, "b.rules": 'host_executable(name="git", paths=["/opt/git"])'},
    ["-r", "a.rules", "-r", "b.rules", "--resolve-host-executables", "/opt/git", "status"],
)
R("m_long_argv", 'prefix_rule(pattern=["echo"] + ["x"] * 50, decision="prompt")', "echo", *(["x"] * 60))
R("m_equals_and_spaces", 'prefix_rule(pattern=["env", "A=1 2"])', "env", "A=1 2", "cmd")
R("m_pretty_unicode", 'prefix_rule(pattern=["é"], justification="😀 \\"q\\"")', "é", flags=("--pretty",))
R("m_resolve_flag_twice", GIT, "/usr/bin/git", "status", flags=(*H, *H))
R("m_pretty_twice", GIT, "git", "status", flags=("--pretty", "--pretty"))
case("cli_pretty_with_value", {"a.rules": GIT}, ["-r", "a.rules", "--pretty=true", "git", "status"])
case("cli_rules_empty_value", {}, ["--rules=", "git"])
case("cli_separator_before_rules", {"a.rules": GIT}, ["--", "-r", "a.rules", "git"])
case("cli_config_option_ignored", {"a.rules": GIT}, ["-c", "x=1", "-r", "a.rules", "git", "status"])

# ---------------------------------------------------------------- examples, more
R("ex2_match_list_with_spaces", 'prefix_rule(pattern=["a", "b c"], match=[["a", "b c", "d"]])', "a", "b c")
R("ex2_not_match_shorter", 'prefix_rule(pattern=["a", "b"], not_match=["a"])', "a", "b")
R("ex2_match_relative_path", 'prefix_rule(pattern=["tool"], match=["./tool x"])', "tool")
R("ex2_match_tilde_path", 'prefix_rule(pattern=["tool"], match=["~/bin/tool x"])', "tool")
R(
    "ex2_not_match_relative_excluded",
    'host_executable(name="tool", paths=["/opt/tool"])\nprefix_rule(pattern=["tool"], not_match=["./tool x"])',
    "tool",
)
R(
    "ex2_examples_in_loop",
    'for t in ["a", "b"]:\n    prefix_rule(pattern=[t], match=[t + " x"], not_match=["c"])',
    "b",
    "x",
)
R(
    "ex2_second_call_fails",
    'prefix_rule(pattern=["a"], match=["a"])\nprefix_rule(pattern=["b"], match=["a"])',
    "a",
)
R(
    "ex2_error_order_runtime_before_examples",
    'prefix_rule(pattern=["a"], match=["z"])\nprefix_rule(pattern=["b"], decision="no")',
    "a",
)
R(
    "ex2_escapes_in_example",
    'prefix_rule(pattern=["printf", "a\\tb"], match=["printf \'a\tb\'"])',
    "printf",
    "a\tb",
)
R(
    "ex2_unicode_example",
    'prefix_rule(pattern=["echo", "é"], match=["echo é"], not_match=["echo e\u0301"])',
    "echo",
    "é",
)
R(
    "ex2_canonical_not_match_fails",
    'prefix_rule(pattern=["git"], canonical_matching=True, not_match=["GIT push"])',
    "git",
)
R("ex2_command_rule_unknown_in_codex", 'command_rule(pattern=["a"], exact=True)', "a", cordon_extension=True)
