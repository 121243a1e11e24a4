"""Parse Starlark source into a small tuple AST (Lark LALR, its basic lexer + an Indenter post-lexer).

Speed: a call whose arguments are all string literals or lists of them (most of a .rules file)
is one token (starlark.lark, LIT_CALL), decoded here into the nodes the ordinary tokens would
give; a file with a syntax error is parsed again without that shortcut, so errors never change.

Every node is a tuple ``(kind, pos, *fields)`` where ``pos`` is
``(line, column, end_line, end_column)``, 1-based, end exclusive. Syntax errors are raised as
:class:`StarlarkSyntaxError` with the message text Codex (starlark-rust) uses where we know it.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter

# os.path, not pathlib: pathlib imports urllib.parse and ipaddress (~5 ms of a cold check).
GRAMMAR_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "starlark.lark")

# Python keywords Starlark reserves but does not implement: using one is a parse error.
# Starlark keywords: NAME tokens with these values are re-typed as the keyword (see _Indent).
KEYWORDS = frozenset(
    [
        "and",
        "break",
        "continue",
        "def",
        "elif",
        "else",
        "for",
        "if",
        "in",
        "lambda",
        "load",
        "not",
        "or",
        "pass",
        "return",
        "None",
        "True",
        "False",
    ]
)
RESERVED = frozenset(
    [
        "as",
        "assert",
        "async",
        "await",
        "class",
        "del",
        "except",
        "finally",
        "from",
        "global",
        "import",
        "is",
        "nonlocal",
        "raise",
        "try",
        "while",
        "with",
        "yield",
    ]
)


class StarlarkSyntaxError(Exception):
    """A parse/compile-time error: message plus 1-based span (end exclusive)."""

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        end_line: int | None = None,
        end_column=None,
        outside=False,
    ):
        super().__init__(message)
        self.outside = outside  # located past the end of the file (drawn without a source line)
        self.message = message
        self.line = line
        self.column = column
        self.end_line = end_line if end_line is not None else line
        self.end_column = end_column if end_column is not None else column


class _Indent(Indenter):
    """Indentation, keywords, and the literal-call shortcut's context (see starlark.lark)."""

    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token):
        try:
            yield from super().handle_NL(token)
        except DedentError:
            # Column 0: parse() fills in the end of the line holding the newline.
            raise StarlarkSyntaxError(
                "Parse error: incorrect indentation", token.end_line - 1, 0, token.end_line, token.end_column
            ) from None

    def process(self, stream):
        prev = None
        held = None  # a LIT_CALL or LIT_RUN, until the next token says if it ends a statement
        held_at_start = False
        for tok in super().process(stream):
            t = tok.type
            if held is not None:
                if held.type == "LIT_RUN" and t != "_NEWLINE":
                    held.type = "LIT_CALL"  # one call (else the decoder refuses it), not a statement
                if held.type == "LIT_CALL" and held_at_start and t in _STMT_END:
                    held.type = "LIT_STMT"
                yield held
                held = None
            if t == "NAME":
                _retype(tok)
            elif t == "LIT_CALL":
                # Not a call in these places: `def f(...)`, `x.f(...)`, `load(...)`, `if(...)`.
                if prev in ("DEF", "DOT") or _CALLEE_RE.match(tok.value).group() in _NOT_CALLEE:
                    yield from _split(tok)
                    prev = "RPAR"
                    continue
                held, held_at_start = tok, prev in _STMT_START
                prev = t
                continue
            elif t == "LIT_RUN":
                held, held_at_start = tok, prev in _STMT_START
                prev = "LIT_CALL"
                continue
            elif t == "LIT_LIST" and prev in _PRIMARY_END:
                yield from _split(tok)  # `x["a"]` is a subscript, not a list
                prev = "RSQB"
                continue
            prev = t
            yield tok
        if held is not None:
            yield held


def _retype(tok: Token) -> None:
    if tok.value in KEYWORDS:
        # A keyword is never an identifier (as in starlark-rust's lexer); re-typed, the parser
        # reports it with the right "expected ...".
        tok.type = tok.value.upper()
    elif tok.value in RESERVED:
        raise StarlarkSyntaxError(
            f"Parse error: cannot use reserved keyword `{tok.value}`",
            tok.line,
            tok.column,
            tok.end_line,
            tok.end_column,
        )


# The literal-call shortcut (starlark.lark, LIT_CALL / LIT_LIST): one token for a call whose
# arguments are all string literals or lists of them. Its parts, as the ordinary lexer reads them:
_LIT_STR = r"""(?:[rR][bBfF]?|[bBfF][rR]?)?(?:"(?:[^"\\\n]|\\[^\n])*"|'(?:[^'\\\n]|\\[^\n])*')"""
_LIT_PARTS_RE = re.compile(
    rf"(?P<STRING>{_LIT_STR})|(?P<NAME>[A-Za-z_][A-Za-z0-9_]*)|#[^\n]*"
    r"|(?P<LSQB>\[)|(?P<RSQB>\])|(?P<LPAR>\()|(?P<RPAR>\))|(?P<COMMA>,)|(?P<EQUAL>=)"
)
# What _literal_nodes reads: 1 a string, 2 a name, 3 [, 4 ], 5 ), or a comment (skipped whole, so
# that nothing in it is read); the commas, ( and = in between are implied by the order.
_LIT_DECODE_RE = re.compile(rf"({_LIT_STR})|([A-Za-z_][A-Za-z0-9_]*)|(\[)|(\])|(\))|#[^\n]*")
_CALLEE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_CALLEE = KEYWORDS | RESERVED
_STMT_START = frozenset([None, "_NEWLINE", "_INDENT", "_DEDENT", "SEMICOLON"])
_STMT_END = frozenset(["_NEWLINE", "SEMICOLON"])
# Token types after which ``[`` opens a subscript, not a list.
_PRIMARY_END = frozenset(
    [
        "NAME",
        "STRING",
        "INT",
        "FLOAT",
        "RPAR",
        "RSQB",
        "RBRACE",
        "NONE",
        "TRUE",
        "FALSE",
        "LIT_CALL",
        "LIT_LIST",
    ]
)


def _locator(tok: Token):
    """offset in ``tok``'s text -> (line, column) in the file."""
    line0, col0, text = tok.line, tok.column, tok.value
    if "\n" not in text:
        return lambda off: (line0, col0 + off)
    breaks = [i for i, c in enumerate(text) if c == "\n"]

    def at(off: int) -> tuple[int, int]:
        k = bisect_right(breaks, off - 1)  # line breaks before ``off``
        return (line0, col0 + off) if k == 0 else (line0 + k, off - breaks[k - 1])

    return at


def _split(tok: Token):
    """The ordinary tokens of a LIT_CALL / LIT_LIST token (keywords re-typed, as process does)."""
    at = _locator(tok)
    base = tok.start_pos
    for m in _LIT_PARTS_RE.finditer(tok.value):
        kind = m.lastgroup
        if kind is None:
            continue  # a comment
        a, b = m.span()
        line, col = at(a)
        part = Token(kind, m.group(), base + a, line, col, line, col + (b - a), base + b)
        if kind == "NAME":
            _retype(part)
        yield part


def _pos(meta) -> tuple[int, int, int, int]:
    return (meta.line, meta.column, meta.end_line, meta.end_column)


def _tpos(tok: Token) -> tuple[int, int, int, int]:
    return (tok.line, tok.column, tok.end_line, tok.end_column)


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "\n": "",
}
_ESC_RE = re.compile(r"\\(\r?\n|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)


def decode_string(tok: Token) -> tuple[str | bytes, bool]:
    """Token text -> (value, is_fstring). Raw strings keep backslashes.

    ``b"..."`` is a bytes value, as in starlark-rust: Codex's builtins then reject it where they
    want a string (``pattern element must be a string or list of strings (got bytes)``).
    """
    return _decode_text(tok.value, tok)


def _decode_text(text: str, where) -> tuple[str | bytes, bool]:
    """decode_string for a literal's text; ``where`` (a Token or a span) locates errors."""
    i = 0
    prefix = ""
    while text[i] not in "'\"":
        prefix += text[i].lower()
        i += 1
    q = 3 if text[i : i + 3] in ('"""', "'''") else 1
    body = text[i + q : len(text) - q]
    body = body.replace("\r\n", "\n")
    is_bytes = "b" in prefix
    if "r" not in prefix and "\\" in body:

        def esc(m: re.Match) -> str:
            s = m.group(1)
            c = s[0]
            if c in "\r\n":
                return ""
            if c in _ESCAPES:
                return _ESCAPES[c]
            if c in "01234567":
                if is_bytes:  # one byte, kept apart from text until encoding below
                    return chr(_BYTE_BASE + (int(s, 8) & 0xFF))
                return chr(int(s, 8))
            if c == "x" and is_bytes and len(s) > 1:
                return chr(_BYTE_BASE + int(s[1:], 16))
            if c in "xuU" and len(s) > 1:
                cp = int(s[1:], 16)
                if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                    span = _tpos(where) if isinstance(where, Token) else where
                    raise StarlarkSyntaxError(f"Parse error: invalid escape sequence `\\{s}`", *span)
                return chr(cp)
            return "\\" + c  # an unknown escape keeps its backslash, as starlark-rust does

        body = _ESC_RE.sub(esc, body)
    if is_bytes:
        return _to_bytes(body), False
    return body, "f" in prefix


# Bytes literals: a ``\xNN`` or octal escape is one byte, the rest of the text is UTF-8. The
# escaped bytes travel through the text as private-use characters from this base.
_BYTE_BASE = 0xF0000


def _to_bytes(body: str) -> bytes:
    out = bytearray()
    for ch in body:
        o = ord(ch)
        if _BYTE_BASE <= o < _BYTE_BASE + 0x100:
            out.append(o - _BYTE_BASE)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


_FIELD_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_fstring(value: str, pos) -> tuple:
    """f"a{x}b" -> ('fstring', pos, ['a', ('name', pos, 'x'), 'b']); only identifiers, as starlark-rust."""
    parts: list = []
    last = 0
    lit = []
    for m in _FIELD_RE.finditer(value):
        lit.append(value[last : m.start()])
        last = m.end()
        tok = m.group(0)
        if tok == "{{":
            lit.append("{")
        elif tok == "}}":
            lit.append("}")
        elif m.group(1) is not None and _IDENT_RE.match(m.group(1).strip()):
            parts.append("".join(lit))
            lit = []
            parts.append(("name", pos, m.group(1).strip()))
        elif m.group(1) is not None and m.group(1).strip():
            parts.append("".join(lit))
            lit = []
            parts.append(_fstring_expr(m.group(1), pos))
        else:
            raise StarlarkSyntaxError("Parse error: invalid format string", *pos)
    lit.append(value[last:])
    parts.append("".join(lit))
    return ("fstring", pos, parts)


def _fstring_expr(src: str, pos) -> tuple:
    """Parse ``{expr}`` of an f-string; every node is placed at the string literal."""
    try:
        # A second parser: this runs inside the main parse, whose Indenter holds state.
        stmts = _parser_for("fragment").parse(f"({src})\n")
    except (StarlarkSyntaxError, UnexpectedInput, VisitError, AssertionError):
        raise StarlarkSyntaxError("Parse error: invalid format string", *pos) from None
    if len(stmts) != 1 or stmts[0][0] != "expr":
        raise StarlarkSyntaxError("Parse error: invalid format string", *pos)
    return _relocate(stmts[0][2], pos)


def _relocate(node, pos):
    if isinstance(node, tuple):
        if len(node) > 1 and isinstance(node[0], str) and isinstance(node[1], tuple) and len(node[1]) == 4:
            return (node[0], pos, *(_relocate(x, pos) for x in node[2:]))
        return tuple(_relocate(x, pos) for x in node)
    if isinstance(node, list):
        return [_relocate(x, pos) for x in node]
    return node


_INT_RE = re.compile(r"0[0-9]+\Z")


def _sp(a, b) -> tuple[int, int, int, int]:
    """Span from the start of ``a`` to the end of ``b`` (each a Token or a node)."""
    pa = _tpos(a) if isinstance(a, Token) else a[1]
    pb = _tpos(b) if isinstance(b, Token) else b[1]
    return (pa[0], pa[1], pb[2], pb[3])


# Starlark's binary operator precedence (higher binds tighter).
_PREC = {"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}


@v_args(inline=True)
class _ToAst(Transformer):
    """Builds the tuple AST while the LALR parser reduces (no parse tree is built).

    Spans come from the tokens and child nodes; brackets and the few keywords a span starts
    with are named terminals in the grammar so they reach these callbacks.
    """

    def start(self, *stmts):
        out = []
        for s in stmts:
            if isinstance(s, list):
                out.extend(s)
            elif s is not None:
                out.append(s)
        return out

    def simple_stmt(self, *items):
        return [i for i in items if i is not None]

    suite = start

    def expr_stmt(self, e):
        return ("expr", e[1], e)

    def assign_stmt(self, target, value):
        _check_target(target)
        return ("assign", _sp(target, value), target, value)

    def aug_stmt(self, target, op, value):
        if target[0] not in ("name", "index", "attr"):
            _bad_target(target)
        return ("aug", _sp(target, value), target, op.value[:-1], value)

    def return_stmt(self, kw, value=None):
        return ("return", _sp(kw, value if value is not None else kw), value)

    def pass_stmt(self, kw):
        return ("pass", _tpos(kw))

    def break_stmt(self, kw):
        return ("break", _tpos(kw))

    def continue_stmt(self, kw):
        return ("continue", _tpos(kw))

    def load_stmt(self, kw, module, *rest):
        return ("load", _sp(kw, rest[-1]), decode_string(module)[0])

    def load_arg(self, *toks):
        return None

    def if_stmt(self, kw, cond, body, *rest):
        branches = [(cond, body)]
        orelse = []
        for r in rest:
            if r is None:
                continue
            if r[0] == "elif":
                branches.append((r[1], r[2]))
            else:
                orelse = r[1]
        last = orelse or branches[-1][1]
        return ("if", _sp(kw, last[-1]), branches, orelse)

    def elif_clause(self, cond, body):
        return ("elif", cond, body)

    def else_clause(self, body):
        return ("else", body)

    def for_stmt(self, kw, target, it, body):
        return ("for", _sp(kw, body[-1]), target, it, body)

    def def_stmt(self, kw, name, params, ret, body):
        return ("def", _sp(kw, body[-1]), name.value, params or [], body, _tpos(name))

    def params(self, *ps):
        return _check_params(list(ps))

    lambda_params = params

    def param_plain(self, name, ann=None):
        return ("plain", name.value, None)

    def param_default(self, name, *rest):
        return ("default", name.value, rest[-1])

    def param_star(self, name=None, ann=None):
        return ("star", name.value if name is not None else None, None)

    def param_kwargs(self, name, ann=None):
        return ("kwargs", name.value, None)

    def loop_vars(self, *items):
        comma = items[-1]
        items = items[:-1]
        for t in items:
            _check_target(t)
        if len(items) == 1 and comma is None:
            return items[0]
        return ("tuple", _sp(items[0], comma if comma is not None else items[-1]), list(items))

    def tuple_expr(self, *items):
        end = items[-1]  # a trailing comma belongs to the tuple's span
        items = [i for i in items if i is not None and not isinstance(i, Token)]
        return ("tuple", _sp(items[0], end if end is not None else items[-1]), items)

    def if_expr(self, a, cond, b):
        return ("ifexp", _sp(a, b), cond, a, b)

    def lambda_expr(self, kw, params, body):
        return ("lambda", _sp(kw, body), params or [], body)

    def or_expr(self, a, b):
        return ("or", _sp(a, b), a, b)

    def and_expr(self, a, b):
        return ("and", _sp(a, b), a, b)

    def not_expr(self, kw, a):
        return ("not", _sp(kw, a), a)

    def compare(self, a, op, b):
        return ("compare", _sp(a, b), op, a, b)

    def comp_op(self, *toks):
        return " ".join(t.value for t in toks)

    def binexpr(self, *items):
        # items: operand, op, operand, op, ... -> precedence climbing into binop nodes
        pos = 1

        def climb(lhs, min_prec):
            nonlocal pos
            while pos < len(items) and _PREC[items[pos].value] >= min_prec:
                op = items[pos].value
                rhs = items[pos + 1]
                pos += 2
                while pos < len(items) and _PREC[items[pos].value] > _PREC[op]:
                    rhs = climb(rhs, _PREC[op] + 1)
                lhs = ("binop", _sp(lhs, rhs), op, lhs, rhs)
            return lhs

        return climb(items[0], 0)

    def unary(self, op, a):
        return ("unary", _sp(op, a), op.value, a)

    def attr(self, obj, name):
        return ("attr", _sp(obj, name), obj, name.value)

    def index(self, obj, sub, rsqb):
        if isinstance(sub, tuple) and sub and sub[0] == "slicespec":
            return ("slice", _sp(obj, rsqb), obj, sub[1], sub[2], sub[3])
        return ("index", _sp(obj, rsqb), obj, sub)

    def slice(self, lo=None, hi=None, step=None):
        return ("slicespec", lo, hi, step)

    def call(self, fn, args, rpar):
        return _call_node(fn, args or [], _tpos(rpar))

    def lit_call(self, tok):
        return _literal_nodes(tok)

    lit_list = lit_call

    def lit_stmt(self, tok):
        node = _literal_nodes(tok)
        return ("expr", node[1], node)

    def lit_run(self, tok):
        return _literal_nodes(tok)

    def arguments(self, *args):
        return list(args)

    def arg_pos(self, e):
        return ("pos", None, e)

    def arg_kw(self, name, e):
        return ("kw", name.value, e, _tpos(name))

    def arg_star(self, e):
        return ("star", None, e)

    def arg_kwargs(self, e):
        return ("kwargs", None, e)

    def name(self, tok):
        return ("name", _tpos(tok), tok.value)

    def int_lit(self, tok):
        v = tok.value
        if _INT_RE.match(v) and v.strip("0"):
            raise StarlarkSyntaxError(f"Parse error: integer cannot have leading 0, got `{v}`", *_tpos(tok))
        return ("const", _tpos(tok), int(v, 0) if v.strip("0") != "" else 0)

    def float_lit(self, tok):
        return ("const", _tpos(tok), float(tok.value))

    def str_lit(self, tok):
        value, is_f = decode_string(tok)
        if is_f:
            return parse_fstring(value, _tpos(tok))
        return ("const", _tpos(tok), value)

    def none_lit(self, tok):
        return ("const", _tpos(tok), None)

    def true_lit(self, tok):
        return ("const", _tpos(tok), True)

    def false_lit(self, tok):
        return ("const", _tpos(tok), False)

    def list_lit(self, lsqb, *items):
        rsqb = items[-1]
        return ("list", _sp(lsqb, rsqb), [i for i in items[:-1] if i is not None])

    def list_comp(self, lsqb, elt, clauses, rsqb):
        return ("listcomp", _sp(lsqb, rsqb), elt, clauses)

    def dict_lit(self, lbrace, *entries):
        rbrace = entries[-1]
        return ("dict", _sp(lbrace, rbrace), [e for e in entries[:-1] if e is not None])

    def dict_comp(self, lbrace, entry, clauses, rbrace):
        return ("dictcomp", _sp(lbrace, rbrace), entry[0], entry[1], clauses)

    def entry(self, k, v):
        return (k, v)

    def empty_tuple(self, lpar, rpar):
        return ("tuple", _sp(lpar, rpar), [])

    def paren(self, e):
        return e

    def comp_for(self, target, it, *rest):
        return [("for", target, it), *rest]

    def comp_for_clause(self, target, it):
        return ("for", target, it)

    def comp_if_clause(self, cond):
        return ("if", cond)


def _call_node(fn, args: list, rpar: tuple) -> tuple:
    seen = set()
    for a in args:
        if a[0] == "kw":
            if a[1] in seen:
                raise StarlarkSyntaxError("repeated named argument", *a[3])
            seen.add(a[1])
    return ("call", (*fn[1][:2], *rpar[2:]), fn, [a[:3] for a in args])


def _literal_nodes(tok: Token):
    """What the ordinary tokens' callbacks would build from a LIT_* token's parts: the list of a
    LIT_LIST, the call of a LIT_CALL / LIT_STMT, the statements of a LIT_RUN (the hot loop of a
    cold parse: kept flat)."""
    src = tok.value
    line, line_start = tok.line, 1 - tok.column  # line_start: offset of the line's column 1
    multi_line = "\n" in src
    seen = 0  # offsets before this are counted into line / line_start
    fn = None if tok.type == "LIT_LIST" else ()  # () until a call's callee is read
    run: list | None = [] if tok.type == "LIT_RUN" else None
    lists: list = []  # the lists still open: (line, column, items)
    args: list = []
    kw = None
    for m in _LIT_DECODE_RE.finditer(src):
        kind = m.lastindex
        if kind is None:
            continue  # a comment
        a = m.start()
        if multi_line:
            n = src.count("\n", seen, a)
            if n:
                line += n
                line_start = src.rfind("\n", seen, a) + 1
            seen = a
        col = a - line_start + 1
        if kind == 1:  # a string
            text = m.group(1)
            pos = (line, col, line, col + len(text))
            if text[0] in "'\"" and "\\" not in text:  # no prefix, no escape (no triple quotes here)
                node = ("const", pos, text[1:-1])
            else:
                value, is_f = _decode_text(text, pos)
                node = parse_fstring(value, pos) if is_f else ("const", pos, value)
        elif kind == 3:  # [
            lists.append((line, col, []))
            continue
        elif kind == 4:  # ]
            l0, c0, items = lists.pop()
            node = ("list", (l0, c0, line, col + 1), items)
        elif kind == 5:  # ): the call is complete
            call = _call_node(fn, args, (line, col, line, col + 1))
            if run is None:
                if m.end() != len(src):  # a LIT_RUN of several calls re-typed as one
                    raise StarlarkSyntaxError("Parse error: more than one call", line, col)
                return call
            run.append(("expr", call[1], call))
            fn, args = (), []
            continue
        else:  # a name: the callee, or an argument's keyword
            text = m.group(2)
            pos = (line, col, line, col + len(text))
            if text in _NOT_CALLEE:  # `f(if = "x")`, `load(...)`: the ordinary parse reads them
                raise StarlarkSyntaxError(f"Parse error: keyword `{text}`", *pos)
            if fn == ():
                fn = ("name", pos, text)
            else:
                kw = (text, pos)
            continue
        if lists:
            lists[-1][2].append(node)
        elif fn is None:
            return node  # LIT_LIST: its one list
        elif kw is not None:
            args.append(("kw", kw[0], node, kw[1]))
            kw = None
        else:
            args.append(("pos", None, node))
    return run


def _bad_target(t):
    raise StarlarkSyntaxError("left-hand-side of assignment must take the form `a`, `a.b` or `a[b]`", *t[1])


def _check_target(t):
    if t[0] in ("name", "index", "attr"):
        return
    if t[0] in ("tuple", "list"):
        for x in t[2]:
            _check_target(x)
        return
    _bad_target(t)


def _check_params(ps):
    seen = set()
    for _kind, name, _d in ps:
        if name is not None:
            if name in seen:
                raise StarlarkSyntaxError(f"duplicated parameter name `{name}`", 1, 1)
            seen.add(name)
    return ps


_parsers: dict[str, Lark] = {}

# The LALR tables, built from the grammar when Cordon is built or installed (setup.py, and
# scripts/install.sh for a checkout) and shipped beside it: building them costs ~0.3 s, which
# every first `execpolicy check` would pay. They live in the install (as trusted as the code),
# never in a user cache a sandboxed command could write, and they are marshal data (no pickle,
# nothing that runs when loaded). A file built from another grammar or Lark is ignored.
TABLES_PATH = os.path.join(os.path.dirname(GRAMMAR_PATH), "starlark.tables")
_TABLES_FORMAT = 1


def _read_grammar() -> str:
    with open(GRAMMAR_PATH, encoding="utf-8") as f:
        return f.read()


def _lark_options() -> dict:
    return dict(
        parser="lalr",
        lexer="basic",
        postlex=_Indent(),
        maybe_placeholders=True,
        transformer=_ToAst(),
    )


def _tables_stamp(grammar: str) -> tuple:
    import lark

    return (_TABLES_FORMAT, lark.__version__, grammar)


def write_tables(path: str | os.PathLike = TABLES_PATH) -> None:
    """Build the parser from the grammar and store its tables (atomically) at ``path``."""
    import marshal

    grammar = _read_grammar()
    data, memo = _tables_data(grammar)
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        marshal.dump((_tables_stamp(grammar), data, memo), f)
    os.replace(tmp, path)


def _tables_data(grammar: str) -> tuple[dict, dict]:
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = Lark(grammar, **_lark_options()).memo_serialize([TerminalDef, Rule])
    # Instances, not data: _from_data passes fresh ones.
    data["options"] = {k: v for k, v in data["options"].items() if k not in ("postlex", "transformer")}
    return data, memo


def _from_data(data: dict, memo: dict, plain: bool) -> Lark:
    """A parser from the tables; ``plain``: its lexer without the shortcut's terminals (LIT_*),
    i.e. exactly the grammar's ordinary tokens (the parse table is the same)."""
    if plain:
        conf = data["parser"]["lexer_conf"]
        conf["terminals"] = [t for t in conf["terminals"] if not memo[t["@"]]["name"].startswith("LIT_")]
    opts = _lark_options()
    return Lark._load_from_dict(data, memo, postlex=opts["postlex"], transformer=opts["transformer"])


def _load_tables(grammar: str, plain: bool = False) -> Lark | None:
    import marshal

    try:
        with open(TABLES_PATH, "rb") as f:
            # loads(read()), not load(f): from a file object marshal reads in small pieces,
            # ~10x slower here (25 ms against 2.5 ms for these tables).
            stamp, data, memo = marshal.loads(f.read())
        if stamp != _tables_stamp(grammar):
            return None
        return _from_data(data, memo, plain)
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def parser() -> Lark:
    """The parser with the literal-call shortcut (starlark.lark); see parse()."""
    return _parser_for("main")


def _parser_for(role: str) -> Lark:
    """``main``; ``plain``: the grammar without the shortcut, for errors; ``fragment``: f-strings."""
    p = _parsers.get(role)
    if p is None:
        grammar = _read_grammar()
        plain = role != "main"
        p = _load_tables(grammar, plain) or _from_data(*_tables_data(grammar), plain)
        _parsers[role] = p
    return p


_TOKEN_DESC = {
    "RPAR": "symbol ')'",
    "LPAR": "symbol '('",
    "RSQB": "symbol ']'",
    "LSQB": "symbol '['",
    "RBRACE": "symbol '}'",
    "LBRACE": "symbol '{'",
    "COMMA": "symbol ','",
    "COLON": "symbol ':'",
    "SEMICOLON": "symbol ';'",
    "EQUAL": "symbol '='",
    "DOT": "symbol '.'",
    "_NEWLINE": "new line",
    "_INDENT": "new indentation block",
    "_DEDENT": "end of indentation block",
    "$END": "end of file",
}


def _describe(tok: Token) -> str:
    t = tok.type
    if t == "NAME":
        return f"identifier '{tok.value}'"
    if t == "STRING":
        return f"string literal {_short_str(tok.value)}"
    if t in ("INT", "FLOAT"):
        return f"{'integer' if t == 'INT' else 'float'} literal '{tok.value}'"
    if t in _TOKEN_DESC:
        return _TOKEN_DESC[t]
    if tok.value and not tok.value[:1].isalnum():
        return f"symbol '{tok.value}'"
    return f"keyword '{tok.value}'"


def _short_str(raw: str) -> str:
    try:
        v, _ = decode_string(Token("STRING", raw))
    except StarlarkSyntaxError:
        v = raw
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_CLOSERS = {"RPAR", "RSQB", "RBRACE"}
_OPERAND_START = {"NAME", "STRING", "INT", "FLOAT"}


def _open_bracket(text: str, pos: int) -> str | None:
    """The closer of the innermost bracket still open before offset ``pos`` (None at depth 0)."""
    stack: list[str] = []
    try:
        for tok in _parser_for("plain").lex(text[:pos], dont_ignore=False):
            if tok.type in _OPENERS:
                stack.append(_OPENERS[tok.type])
            elif tok.type in _CLOSERS and stack:
                stack.pop()
    except Exception:  # a lexing problem earlier than the parse error: no bracket information
        return None
    return stack[-1] if stack else None


def _expected(exp: set[str], closer: str | None) -> str:
    """starlark-rust's wording: an operand if one may come next, else the pending closer."""
    if exp & _OPERAND_START:
        return "expression" if exp & (_OPERAND_START - {"NAME"}) else "identifier"
    if closer and closer in exp:
        return _TOKEN_DESC[closer]
    if closer:
        return _TOKEN_DESC[closer]
    if "_NEWLINE" in exp:
        return "new line"
    if "_INDENT" in exp:
        return "new indentation block"
    if "COLON" in exp:
        return "symbol ':'"
    return "one of " + ", ".join(sorted(exp))


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def parse(source: str, *, shortcut: bool = True) -> list:
    """Source text -> list of statement nodes; raises StarlarkSyntaxError.

    The literal-call shortcut (starlark.lark, LIT_CALL) only changes the speed: the result is
    the same node for node, and a file with a syntax error is parsed again without it, so that
    the error and its location are the ordinary grammar's. ``shortcut=False`` parses without it
    (the reference the shortcut is tested against)."""
    if source.startswith("\ufeff"):
        raise StarlarkSyntaxError("Parse error: invalid input `\ufeff`", 1, 1, 1, 1)
    body = source.replace("\r\n", "\n")
    text = body if body.endswith("\n") else body + "\n"
    last = body.rsplit("\n", 1)[-1]
    if last.endswith("\\") and "#" not in last and not last.endswith("\\\\"):  # continuation, then EOF
        line, col = _line_col(text, len(body) - 1)
        raise StarlarkSyntaxError("Parse error: invalid input `\\`", line, col, line, col + 1)
    first = text.split("\n", 1)[0]
    if first.startswith(" ") and first.strip() and not first.lstrip().startswith("#"):
        n = len(first) - len(first.lstrip(" "))
        if first[n] != "\t":
            raise StarlarkSyntaxError(
                "Parse error: unexpected new indentation block, expected expression", 1, 1, 1, n + 1
            )
    if shortcut:
        try:
            return parser().parse(text)
        except Exception:  # the ordinary parse below decides what is wrong, and where
            pass
    try:
        return _parser_for("plain").parse(text)
    except StarlarkSyntaxError as e:
        if e.column == 0:
            e.column = len(text.split("\n")[e.line - 1]) + 1
        raise
    except VisitError as e:
        if isinstance(e.orig_exc, StarlarkSyntaxError | RecursionError):
            raise e.orig_exc from None
        raise
    except UnexpectedCharacters as e:
        pos = e.pos_in_stream
        ch = text[pos] if pos is not None and pos < len(text) else ""
        line, col = e.line, e.column
        if ch == "\t":
            start = text.rfind("\n", 0, pos)
            if text[start + 1 : pos].strip(" ") == "" and start >= 0:
                line, col = _line_col(text, start)  # a tab in indentation: the newline token before it
            raise StarlarkSyntaxError("Parse error: tabs are not allowed", line, col, line, col) from None
        if ch in "'\"":
            q = ch * 3
            if pos >= 2 and text[pos - 2 : pos + 1] == q:  # lexed as "" then a lone quote: a triple
                line, col = _line_col(text, pos - 2)
                span = (line, col, *_line_col(text, len(body)))
            else:
                eol = text.find("\n", pos)
                span = (line, col, line, col + (eol - pos))
            raise StarlarkSyntaxError("Parse error: unfinished string literal", *span) from None
        raise StarlarkSyntaxError(f"Parse error: invalid input `{ch}`", line, col, line, col + 1) from None
    except UnexpectedToken as e:
        tok = e.token
        exp = set(e.expected)
        if tok.type == "$END":
            closer = _open_bracket(text, len(text))
            if closer:
                msg = f"Parse error: unexpected new line, expected {_expected(exp, closer)}"
                if body.endswith("\n"):  # starlark-rust places it past the last line
                    raise StarlarkSyntaxError(msg, 1, 1, outside=True) from None
                line, col = _line_col(text, len(body))
                raise StarlarkSyntaxError(msg, line, col, line, col) from None
            msg = f"Parse error: unexpected end of file, expected {_expected(exp, None)}"
            if body.endswith("\n"):
                raise StarlarkSyntaxError(msg, 1, 1, outside=True) from None
            line, col = _line_col(text, len(body))
            raise StarlarkSyntaxError(msg, line, col, line, col) from None
        if tok.type == "_INDENT":
            raise StarlarkSyntaxError(
                "Parse error: unexpected new indentation block, expected expression",
                tok.end_line,
                1,
                tok.end_line,
                tok.end_column,
            ) from None
        closer = _open_bracket(text, tok.start_pos) if tok.start_pos is not None else None
        if tok.type == "_NEWLINE":
            if tok.start_pos >= len(body):  # the newline we added: zero-width at the end
                span = (tok.line, tok.column, tok.line, tok.column)
            else:  # the "\n" itself: up to the start of the next line
                span = (tok.line, tok.column, tok.line + 1, 1)
        else:
            span = (tok.line, tok.column, tok.end_line, tok.end_column)
        raise StarlarkSyntaxError(
            f"Parse error: unexpected {_describe(tok)}, expected {_expected(exp, closer)}", *span
        ) from None
    except UnexpectedEOF as e:
        raise StarlarkSyntaxError(
            f"Parse error: unexpected end of file, expected {_expected(set(e.expected), None)}",
            1,
            1,
            outside=True,
        ) from None
    except DedentError:  # pragma: no cover - handle_NL converts it with a location
        raise StarlarkSyntaxError("Parse error: incorrect indentation", 1, 1) from None
    except UnexpectedInput as e:  # pragma: no cover - other lark input errors
        raise StarlarkSyntaxError(f"Parse error: {e.__class__.__name__}", e.line, e.column) from None
