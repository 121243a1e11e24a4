"""A bounded tree-walking evaluator for the tuple AST of policy.starlark.syntax.

Bounded on purpose: every statement and expression costs a step from a budget, Starlark call
depth is capped, and strings/collections have a size cap, so a hostile or buggy rules file
ends with an :class:`EvalError` instead of hanging or eating memory.
"""

from __future__ import annotations

from collections.abc import Callable

from cordon.errors import CordonError

MAX_STEPS = 2_000_000
MAX_DEPTH = 48  # frames (module included) before "Starlark call stack overflow", as starlark-rust
MAX_SIZE = 10_000_000  # elements of a collection / characters of a string


class EvalError(CordonError):
    """A runtime error: message, the span it points at, and the Starlark call stack.

    ``frames`` is a list of (function name, span of the statement/call active in it), outermost
    first. ``static`` marks compile-time errors (unknown variable...), which have no traceback.
    """

    def __init__(self, message: str, pos=None, frames=None, static: bool = False):
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.frames = frames or []
        self.static = static


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class Function:
    """A Starlark function (def or lambda)."""

    __slots__ = ("body", "defaults", "expr", "globals", "locals_set", "name", "params", "qualname")

    def __init__(self, name, params, defaults, body, globals_, locals_set, expr=False, module=""):
        self.name = name
        self.qualname = f"{module}.{name}" if module else name  # as starlark-rust names it in errors
        self.params = params
        self.defaults = defaults
        self.body = body
        self.globals = globals_
        self.locals_set = locals_set
        self.expr = expr


class Builtin:
    """A native function: ``fn(interp, args: list, kwargs: dict) -> value``."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn: Callable):
        self.name = name
        self.fn = fn


class BoundMethod:
    __slots__ = ("fn", "name", "obj")

    def __init__(self, obj, name, fn):
        self.obj = obj
        self.name = name
        self.fn = fn


def type_name(v) -> str:
    if v is None:
        return "NoneType"
    t = type(v)
    return _TYPE_NAMES.get(t, "function" if t in (Function, Builtin, BoundMethod) else t.__name__)


_TYPE_NAMES = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "string",
    bytes: "bytes",
    list: "list",
    dict: "dict",
    tuple: "tuple",
}


_REPR_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class IteratorList(list):
    """What ``str.elems()`` returns: iterable like a list, but shown as ``iterator``."""


def srepr(v) -> str:
    """Starlark's repr: double-quoted strings with non-ASCII escaped (``\\xe9``, ``\\U0001f600``)."""
    if type(v) is IteratorList:
        return "iterator"
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            o = ord(ch)
            if ch in _REPR_ESC:
                out.append(_REPR_ESC[ch])
            elif 0x20 <= o < 0x7F:
                out.append(ch)
            elif o < 0x100:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
        out.append('"')
        return "".join(out)
    if isinstance(v, bytes):
        return _bytes_repr(v)
    if v is None:
        return "None"
    if v is True:
        return "True"
    if v is False:
        return "False"
    if isinstance(v, list):
        return "[" + ", ".join(srepr(x) for x in v) + "]"
    if isinstance(v, tuple):
        if len(v) == 1:
            return "(" + srepr(v[0]) + ",)"
        return "(" + ", ".join(srepr(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{srepr(k)}: {srepr(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Function):
        return f"<function {v.name}>"
    if isinstance(v, Builtin | BoundMethod):
        return f"<built-in function {v.name}>"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "+inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, range):
        if v.step != 1:
            return f"range({v.start}, {v.stop}, {v.step})"
        return f"range({v.stop})" if v.start == 0 else f"range({v.start}, {v.stop})"
    return repr(v)


def _bytes_repr(v: bytes) -> str:
    """starlark-rust's repr of bytes: ``b"..."``, valid UTF-8 shown as text, other bytes ``\\xNN``."""
    out = ['b"']
    for ch in v.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in _REPR_ESC:
            out.append(_REPR_ESC[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def sstr(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")  # str(b"...") decodes, as in starlark-rust
    return v if isinstance(v, str) else srepr(v)


def truth(v) -> bool:
    return bool(v) if not isinstance(v, Function | Builtin | BoundMethod) else True


# --------------------------------------------------------------------------- suggestions

# starlark-rust's method names per type (suggestions only; see stdlib for what is implemented).
METHOD_NAMES = {
    "list": ["append", "clear", "extend", "index", "insert", "pop", "remove"],
    "dict": ["clear", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values"],
    "string": [
        "capitalize",
        "codepoints",
        "count",
        "elems",
        "endswith",
        "find",
        "format",
        "index",
        "isalnum",
        "isalpha",
        "isdigit",
        "islower",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "title",
        "upper",
    ],
}


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def did_you_mean(name: str, candidates) -> str | None:
    """The closest candidate within starlark-rust's edit-distance limit; ties go to the first."""
    best = None
    best_d = 99
    for c in candidates:
        if c == name:
            continue
        d = _distance(name, c)
        if d < best_d and d <= min(2, max(1, min(len(name), len(c)) - 1)):
            best, best_d = c, d
    return best


def with_suggestion(message: str, name: str, candidates) -> str:
    s = did_you_mean(name, candidates)
    return f"{message}, did you mean `{s}`?" if s else message


# --------------------------------------------------------------------------- resolver

_LITERALS = ("True", "False", "None")


def _bound_names(stmts, out: dict) -> None:
    """Names a block binds (assignment targets, for variables, defs), not descending into defs."""
    for s in stmts:
        k = s[0]
        if k in ("assign", "aug"):
            _target_names(s[2], out)
        elif k == "for":
            _target_names(s[2], out)
            _bound_names(s[4], out)
        elif k == "def":
            out[s[2]] = None
        elif k == "if":
            for _c, body in s[2]:
                _bound_names(body, out)
            _bound_names(s[3], out)


def _target_names(t, out: dict) -> None:
    if t[0] == "name":
        out[t[2]] = None
    elif t[0] in ("tuple", "list"):
        for x in t[2]:
            _target_names(x, out)


class _Resolver:
    """Static pass: every name must be bound somewhere visible, as starlark-rust checks."""

    def __init__(self, module_names, builtins: dict, errors: list | None = None):
        self.module = module_names
        self.builtins = builtins
        self.errors = errors  # lint: collect every unknown name instead of stopping at the first

    def stmts(self, stmts, scopes):
        for s in stmts:
            self.stmt(s, scopes)

    def stmt(self, s, scopes):
        k = s[0]
        if k == "expr":
            self.expr(s[2], scopes)
        elif k == "assign":
            self.expr(s[3], scopes)
            self.target(s[2], scopes)
        elif k == "aug":
            self.expr(s[2], scopes)
            self.expr(s[4], scopes)
        elif k == "return":
            if s[2] is not None:
                self.expr(s[2], scopes)
        elif k == "if":
            for c, body in s[2]:
                self.expr(c, scopes)
                self.stmts(body, scopes)
            self.stmts(s[3], scopes)
        elif k == "for":
            self.expr(s[3], scopes)
            self.target(s[2], scopes)
            self.stmts(s[4], scopes)
        elif k == "def":
            self.function(s[3], s[4], scopes, is_lambda=False)

    def function(self, params, body, scopes, is_lambda):
        local = dict.fromkeys(p[1] for p in params if p[1] is not None)
        for p in params:
            if p[2] is not None:
                self.expr(p[2], scopes)
        if is_lambda:
            self.expr(body, [*scopes, local])
        else:
            _bound_names(body, local)
            self.stmts(body, [*scopes, local])

    def target(self, t, scopes):
        if t[0] in ("index", "attr"):
            self.expr(t, scopes)
        elif t[0] in ("tuple", "list"):
            for x in t[2]:
                self.target(x, scopes)

    def expr(self, e, scopes):
        k = e[0]
        if k == "name":
            n = e[2]
            for sc in scopes:
                if n in sc:
                    return
            if n in self.module or n in self.builtins:
                return
            cands = (
                [c for sc in reversed(scopes) for c in sc]
                + list(self.module)
                + sorted([*self.builtins, *_LITERALS])
            )
            err = EvalError(with_suggestion(f"Variable `{n}` not found", n, cands), e[1], static=True)
            if self.errors is None:
                raise err
            self.errors.append(err)
            return
        if k == "const":
            return
        if k in ("list", "tuple"):
            for x in e[2]:
                if x[0] != "const":
                    self.expr(x, scopes)
        elif k == "dict":
            for a, b in e[2]:
                self.expr(a, scopes)
                self.expr(b, scopes)
        elif k == "fstring":
            for p in e[2]:
                if not isinstance(p, str):
                    self.expr(p, scopes)
        elif k in ("binop", "compare"):
            self.expr(e[3], scopes)
            self.expr(e[4], scopes)
        elif k in ("and", "or"):
            self.expr(e[2], scopes)
            self.expr(e[3], scopes)
        elif k == "unary":
            self.expr(e[3], scopes)
        elif k == "not":
            self.expr(e[2], scopes)
        elif k == "ifexp":
            for x in e[2:5]:
                self.expr(x, scopes)
        elif k == "attr":
            self.expr(e[2], scopes)
        elif k == "index":
            self.expr(e[2], scopes)
            self.expr(e[3], scopes)
        elif k == "slice":
            for x in e[2:6]:
                if x is not None:
                    self.expr(x, scopes)
        elif k == "call":
            self.expr(e[2], scopes)
            for _kind, _n, a in e[3]:
                self.expr(a, scopes)
        elif k == "lambda":
            self.function(e[2], e[3], scopes, is_lambda=True)
        elif k in ("listcomp", "dictcomp"):
            clauses = e[-1]
            inner = [*scopes, {}]
            for c in clauses:
                if c[0] == "for":
                    self.expr(c[2], inner)
                    _target_names(c[1], inner[-1])
                    self.target(c[1], inner)
                else:
                    self.expr(c[1], inner)
            if k == "listcomp":
                self.expr(e[2], inner)
            else:
                self.expr(e[2], inner)
                self.expr(e[3], inner)


# --------------------------------------------------------------------------- interpreter


class Interpreter:
    """Evaluates one module. ``builtins`` maps names to Builtin objects or plain values;
    ``methods(obj, name)`` gives the native method ``obj.name`` or None (``stdlib.method``)."""

    def __init__(
        self,
        builtins: dict,
        max_steps: int = MAX_STEPS,
        max_depth: int = MAX_DEPTH,
        module: str = "",
        methods: Callable | None = None,
    ):
        self.builtins = builtins
        self.methods = methods
        self.module = module
        self.steps = max_steps
        self.max_depth = max_depth
        # [name, span of the call it is making (or None), span of its current statement]
        self.frames: list[list] = []
        self.globals: dict = {}
        self.iterating: dict[int, int] = {}  # id(list/dict) -> active for loops over it

    # -- entry point
    def run_module(self, stmts, errors: list | None = None) -> dict:
        """Run a module; with ``errors`` (lint), unknown names are all collected, and then the
        module is not run (it could not run past the first)."""
        names: dict = {}
        _bound_names(stmts, names)
        before = len(errors) if errors is not None else 0
        _Resolver(names, self.builtins, errors).stmts(stmts, [])
        if errors is not None and len(errors) > before:
            return self.globals
        self.frames = [["<module>", None, None]]
        try:
            self.exec_block(stmts, None)
        except (_Break, _Continue):  # pragma: no cover - the parser allows these only in loops? no.
            raise EvalError("break or continue outside of a loop") from None
        except _Return:
            raise EvalError("return outside of a function") from None
        except RecursionError:
            raise EvalError(
                "Starlark call stack overflow", self.frames[-1][1] or self.frames[-1][2], self._stack()
            ) from None
        return self.globals

    def _stack(self):
        """Traceback entries: only frames that are in the middle of a call, as starlark-rust."""
        return [(f[0], f[1]) for f in self.frames if f[1] is not None]

    def fail(self, message: str, pos=None, native: bool = False):
        """Raise at ``pos`` (default: the call being made). ``native``: an error starlark-rust
        reports for an intrinsic (``len``...), without the intrinsic's own traceback entry."""
        top = self.frames[-1]
        stack = self._stack()
        if native and stack:
            stack = stack[:-1]
        raise EvalError(message, pos or top[1] or top[2], stack)

    def charge(self, n: int) -> None:
        """Spend ``n`` steps at once: work proportional to data size costs budget too, so a
        loop over big strings or lists ends as quickly as a loop over small ones."""
        self.steps -= n
        if self.steps < 0:
            self.tick()

    def tick(self):
        self.steps -= 1
        if self.steps < 0:
            self.steps = 1 << 30  # let the error propagate without re-triggering
            self.fail("evaluation budget exhausted (the rules file runs too long; runaway loop?)")

    # -- statements
    def exec_block(self, stmts, local):
        for s in stmts:
            self.tick()
            self.frames[-1][2] = s[1]
            k = s[0]
            if k == "expr":
                self.eval(s[2], local)
            elif k == "assign":
                self.assign(s[2], self.eval(s[3], local), local)
            elif k == "aug":
                self.augassign(s, local)
            elif k == "if":
                for cond, body in s[2]:
                    if truth(self.eval(cond, local)):
                        self.exec_block(body, local)
                        break
                else:
                    self.exec_block(s[3], local)
            elif k == "for":
                src = self.eval(s[3], local)
                it = self.iterate(src, s[1])
                key = id(src)
                self.iterating[key] = self.iterating.get(key, 0) + 1
                try:
                    for v in it:
                        self.tick()
                        self.assign(s[2], v, local)
                        try:
                            self.exec_block(s[4], local)
                        except _Break:
                            break
                        except _Continue:
                            continue
                finally:
                    if self.iterating[key] == 1:
                        del self.iterating[key]
                    else:
                        self.iterating[key] -= 1
            elif k == "def":
                defaults = [self.eval(p[2], local) if p[2] is not None else None for p in s[3]]
                local_set: dict = dict.fromkeys(p[1] for p in s[3] if p[1] is not None)
                _bound_names(s[4], local_set)
                fn = Function(s[2], s[3], defaults, s[4], self.globals, local_set, module=self.module)
                self.assign(("name", s[5], s[2]), fn, local)
            elif k == "return":
                raise _Return(self.eval(s[2], local) if s[2] is not None else None)
            elif k == "break":
                raise _Break()
            elif k == "continue":
                raise _Continue()
            elif k == "load":
                raise EvalError(
                    f"No imports are available, you tried `{s[2]}` (no call to `Evaluator.set_loader`)",
                    s[1],
                    self._stack(),
                )

    def assign(self, target, value, local):
        k = target[0]
        if k == "name":
            if local is not None and target[2] in local[1]:
                local[0][target[2]] = value
            else:
                self.globals[target[2]] = value
        elif k in ("tuple", "list"):
            items = self.iterate(value, target[1])
            if len(items) != len(target[2]):
                self.fail(
                    f"Unpacked {len(items)} values but expected {len(target[2])}",
                    target[1],
                )
            for t, v in zip(target[2], items, strict=True):
                self.assign(t, v, local)
        elif k == "index":
            obj = self.eval(target[2], local)
            key = self.eval(target[3], local)
            self.check_mutable(obj, target[1])
            if isinstance(obj, list):
                self.setindex_list(obj, key, value, target[1])
            elif isinstance(obj, dict):
                self.hashable(key, target[3][1])
                obj[key] = value
            else:
                self.fail(f"Object of type `{type_name(obj)}` does not support item assignment", target[1])
        else:
            self.fail("cannot assign to this expression", target[1])

    def setindex_list(self, obj, key, value, pos):
        if not isinstance(key, int) or isinstance(key, bool):
            self.fail(
                f"Type of parameter `index` doesn't match, expected `int`, actual `{type_name(key)}`", pos
            )
        n = key + len(obj) if key < 0 else key
        if not 0 <= n < len(obj):
            self.fail(f"Index `{key}` is out of bound", pos)
        obj[n] = value

    def augassign(self, s, local):
        target, op, rhs = s[2], s[3], s[4]
        if target[0] == "name":
            cur = self.eval(target, local)
            val = self.eval(rhs, local)
            if op == "+" and isinstance(cur, list) and isinstance(val, list):
                self.grow(len(cur) + len(val), s[1])
                self.check_mutable(cur, s[1])
                cur.extend(val)  # Starlark: x += list mutates in place
                return
            self.assign(target, self.binop(op, cur, val, s[1]), local)
        elif target[0] == "index":
            obj = self.eval(target[2], local)
            key = self.eval(target[3], local)
            cur = self.index(obj, key, target[1])
            val = self.eval(rhs, local)
            if op == "+" and isinstance(cur, list) and isinstance(val, list):
                cur.extend(val)
                return
            new = self.binop(op, cur, val, s[1])
            if isinstance(obj, dict):
                obj[key] = new
            else:
                self.setindex_list(obj, key, new, target[1])
        else:
            self.fail("augmented assignment to an attribute is not supported", target[1])

    # -- expressions
    def eval(self, e, local):
        k = e[0]
        if k == "const":
            return e[2]
        self.tick()
        if k == "name":
            n = e[2]
            if local is not None and n in local[1]:
                try:
                    return local[0][n]
                except KeyError:
                    self.fail(f"Local variable `{n}` referenced before assignment", e[1])
            if n in self.globals:
                return self.globals[n]
            if n in self.builtins:
                return self.builtins[n]
            self.fail(f"Variable `{n}` not found", e[1])
        if k == "call":
            return self.call_expr(e, local)
        if k == "list":  # constants inline: most lists in a rules file are literal
            return [x[2] if x[0] == "const" else self.eval(x, local) for x in e[2]]
        if k == "tuple":
            return tuple(self.eval(x, local) for x in e[2])
        if k == "dict":
            d = {}
            for a, b in e[2]:
                key = self.eval(a, local)
                self.hashable(key, a[1])
                d[key] = self.eval(b, local)
            return d
        if k == "binop":
            return self.binop(e[2], self.eval(e[3], local), self.eval(e[4], local), e[1])
        if k == "compare":
            return self.compare(e[2], self.eval(e[3], local), self.eval(e[4], local), e[1])
        if k == "and":
            a = self.eval(e[2], local)
            return self.eval(e[3], local) if truth(a) else a
        if k == "or":
            a = self.eval(e[2], local)
            return a if truth(a) else self.eval(e[3], local)
        if k == "not":
            return not truth(self.eval(e[2], local))
        if k == "unary":
            v = self.eval(e[3], local)
            op = e[2]
            if isinstance(v, int | float) and not (op == "~" and isinstance(v, float)):
                return -v if op == "-" else (+v if op == "+" else ~v)
            self.fail(f"Operation `{op}` not supported on type `{type_name(v)}`", e[1])
        if k == "ifexp":
            return self.eval(e[3], local) if truth(self.eval(e[2], local)) else self.eval(e[4], local)
        if k == "fstring":
            out = "".join(p if isinstance(p, str) else sstr(self.eval(p, local)) for p in e[2])
            self.charge(len(out) >> 2)
            return out
        if k == "attr":
            return self.getattr(self.eval(e[2], local), e[3], e[1])
        if k == "index":
            return self.index(self.eval(e[2], local), self.eval(e[3], local), e[1])
        if k == "slice":
            return self.slice(e, local)
        if k == "lambda":
            params = e[2]
            defaults = [self.eval(p[2], local) if p[2] is not None else None for p in params]
            local_set = dict.fromkeys(p[1] for p in params if p[1] is not None)
            closure = dict(local[0]) if local is not None else None
            fn = Function(
                "lambda", params, defaults, e[3], self.globals, local_set, expr=True, module=self.module
            )
            if closure:
                # Lambdas read enclosing locals by value at creation (enough for rule files).
                fn.globals = {**self.globals, **closure}
            return fn
        if k == "listcomp":
            out: list = []
            self.comprehension(e[3], 0, local, {}, lambda lc: out.append(self.eval(e[2], lc)))
            return out
        if k == "dictcomp":
            d2: dict = {}

            def put(lc):
                key = self.eval(e[2], lc)
                self.hashable(key, e[2][1])
                d2[key] = self.eval(e[3], lc)

            self.comprehension(e[4], 0, local, {}, put)
            return d2
        self.fail(f"unsupported expression `{k}`", e[1])  # pragma: no cover

    def comprehension(self, clauses, i, local, bound, emit):
        if i == len(clauses):
            emit(self._comp_local(local, bound))
            return
        c = clauses[i]
        if c[0] == "for":
            for v in self.iterate(self.eval(c[2], self._comp_local(local, bound)), c[2][1]):
                self.tick()
                names: dict = {}
                _target_names(c[1], names)
                inner = dict(bound)
                tmp = ({}, names)
                self.assign(c[1], v, tmp)
                inner.update(tmp[0])
                self.comprehension(clauses, i + 1, local, inner, emit)
        elif truth(self.eval(c[1], self._comp_local(local, bound))):
            self.comprehension(clauses, i + 1, local, bound, emit)

    @staticmethod
    def _comp_local(local, bound):
        if not bound:
            return local
        if local is None:
            return (dict(bound), set(bound))
        return ({**local[0], **bound}, {**local[1], **dict.fromkeys(bound)})

    def call_expr(self, e, local):
        callee = e[2]
        if callee[0] == "attr":  # a method call: a missing method is reported on the whole call
            fn = self.getattr(self.eval(callee[2], local), callee[3], e[1])
        else:
            fn = self.eval(callee, local)
        args: list = []
        kwargs: dict = {}
        for kind, name, a in e[3]:
            v = self.eval(a, local)
            if kind == "pos":
                args.append(v)
            elif kind == "kw":
                kwargs[name] = v
            elif kind == "star":
                args.extend(self.iterate(v, a[1]))
            else:
                if not isinstance(v, dict):
                    self.fail(f"Argument after ** must be a dict, not `{type_name(v)}`", a[1])
                for kk, vv in v.items():
                    if not isinstance(kk, str):
                        self.fail("Keyword argument names must be strings", a[1])
                    if kk in kwargs:
                        self.fail(f"Multiple values for parameter `{kk}`", e[1])
                    kwargs[kk] = vv
        frame = self.frames[-1]
        frame[1] = e[1]
        result = self.call(fn, args, kwargs, e[1])
        frame[1] = None  # only reached on success: a failing call stays in the traceback
        return result

    def call(self, fn, args, kwargs, pos):
        if isinstance(fn, Builtin):
            return fn.fn(self, args, kwargs)
        if isinstance(fn, BoundMethod):
            return fn.fn(self, fn.obj, args, kwargs)
        if isinstance(fn, Function):
            if len(self.frames) > self.max_depth:
                self.fail("Starlark call stack overflow", pos)
            loc = self.bind(fn, args, kwargs)
            self.frames.append([fn.name, None, None])
            try:
                if fn.expr:
                    return self.eval(fn.body, (loc, fn.locals_set))
                try:
                    self.exec_block(fn.body, (loc, fn.locals_set))
                except _Return as r:
                    return r.value
                except (_Break, _Continue):
                    self.fail("break or continue outside of a loop")
                return None
            finally:
                self.frames.pop()
        self.fail(f"Operation `call()` not supported on type `{type_name(fn)}`", pos)

    def bind(self, fn: Function, args, kwargs) -> dict:
        loc: dict = {}
        i = 0
        star = kw = None
        for (kind, name, _d), default in zip(fn.params, fn.defaults, strict=True):
            if kind in ("plain", "default"):
                if i < len(args) and star is None:
                    loc[name] = args[i]
                    i += 1
                    if name in kwargs:
                        self.fail(f"Multiple values for parameter `{name}` in call to `{fn.qualname}`")
                elif name in kwargs:
                    loc[name] = kwargs[name]
                elif kind == "default":
                    loc[name] = default
                else:
                    self.fail(f"Missing parameter `{name}` for call to `{fn.qualname}`")
            elif kind == "star":
                star = True
                if name is not None:
                    loc[name] = tuple(args[i:])
                    i = len(args)
            else:
                kw = name
        if i < len(args):
            self.fail(f"Found {len(args) - i} extra positional argument(s) for call to {fn.qualname}")
        named = {p[1] for p in fn.params if p[0] in ("plain", "default")}
        extra = {k: v for k, v in kwargs.items() if k not in named}
        if kw is not None:
            loc[kw] = extra
        elif extra:
            self.fail(f"Found `{'` `'.join(extra)}` extra named parameter(s) for call to {fn.qualname}")
        return loc

    def iterate(self, v, pos) -> list:
        if isinstance(v, list | tuple):
            return list(v)
        if isinstance(v, dict):
            return list(v)
        if isinstance(v, range):
            return v  # type: ignore[return-value]
        self.fail(f"Operation `(iter)` not supported on type `{type_name(v)}`", pos)

    def check_mutable(self, obj, pos=None):
        if self.iterating and id(obj) in self.iterating:
            self.fail("This operation mutates an iterable for an iterator while iterating.", pos)

    def hashable(self, v, pos):
        if isinstance(v, list | dict) or (
            isinstance(v, tuple) and any(isinstance(x, list | dict) for x in v)
        ):
            self.fail(f"Value of type `{type_name(v)}` is not hashable", pos)

    def grow(self, n, pos):
        if n > MAX_SIZE:
            self.fail("value too large (size limit of the rules evaluator)", pos)
        self.charge(n >> 8)  # copying memory: one step per 256 elements

    def binop(self, op, a, b, pos):
        ta, tb = type(a), type(b)
        num = (int, float)
        try:
            if op == "+":
                if (ta is tb and ta in (str, bytes, list, tuple)) or (
                    ta in num and tb in num and bool not in (ta, tb)
                ):
                    if ta in (str, bytes, list, tuple):
                        self.grow(len(a) + len(b), pos)
                    return a + b
                if ta is dict and tb is dict:
                    pass
            elif op == "-":
                if ta in num and tb in num and bool not in (ta, tb):
                    return a - b
            elif op == "*":
                if ta in num and tb in num and bool not in (ta, tb):
                    if ta is int and tb is int and (abs(a).bit_length() + abs(b).bit_length() > 4096):
                        self.fail("integer overflow", pos)
                    return a * b
                if (ta in (str, list, tuple) and tb is int) or (tb in (str, list, tuple) and ta is int):
                    seq, n = (a, b) if tb is int else (b, a)
                    self.grow(len(seq) * max(n, 0), pos)
                    return seq * n
            elif op in ("/", "//", "%"):
                if op == "%" and ta is str:
                    return self.percent_format(a, b, pos)
                if ta in num and tb in num and bool not in (ta, tb):
                    if b == 0:
                        if op == "/":
                            self.fail(f"float division by zero: {srepr(a)} / {srepr(b)}", pos)
                        if ta is float or tb is float:
                            self.fail("Cannot divide by zero", pos)
                        what = "Floor division" if op == "//" else "Modulo"
                        self.fail(f"{what} by zero: {srepr(a)} {op} {srepr(b)}", pos)
                    if op == "/":
                        return a / b
                    return a // b if op == "//" else a % b
            elif op in ("&", "|", "^", "<<", ">>"):
                if ta is int and tb is int:
                    if op in ("<<", ">>") and b < 0:
                        self.fail("Negative shift count", pos)
                    if op == "<<" and b > 4096:
                        self.fail("integer overflow", pos)
                    return (
                        {"&": a & b, "|": a | b, "^": a ^ b}.get(op)
                        if op in "&|^"
                        else (a << b if op == "<<" else a >> b)
                    )
                if op == "|" and ta is dict and tb is dict:
                    return {**a, **b}
        except OverflowError:
            self.fail("numeric overflow", pos)
        self.fail(f"Operation `{op}` not supported for types `{type_name(a)}` and `{type_name(b)}`", pos)

    def percent_format(self, fmt: str, arg, pos):
        args = list(arg) if isinstance(arg, tuple) else [arg]
        out = []
        i = 0
        n = len(fmt)
        while i < n:
            c = fmt[i]
            if c != "%":
                out.append(c)
                i += 1
                continue
            if i + 1 >= n:
                self.fail("Incomplete format", pos)
            d = fmt[i + 1]
            i += 2
            if d == "%":
                out.append("%")
                continue
            if not args:
                self.fail("Not enough arguments for format string", pos)
            v = args.pop(0)
            if d == "s":
                out.append(sstr(v))
            elif d == "r":
                out.append(srepr(v))
            elif d in "di":
                if not isinstance(v, int | float) or isinstance(v, bool):
                    self.fail(f"`%{d}` format requires a number, not `{type_name(v)}`", pos)
                out.append(str(int(v)))
            else:
                self.fail(f"Unsupported format character: '{d}'", pos)
        if args:
            self.fail("Too many arguments for format string", pos)
        return "".join(out)

    def compare(self, op, a, b, pos):
        if op in ("==", "!=") and isinstance(a, list | tuple | dict | str):
            self.charge(len(a) >> (8 if isinstance(a, str) else 2))
        if op == "==":
            return _eq(a, b)
        if op == "!=":
            return not _eq(a, b)
        if op in ("in", "not in"):
            if isinstance(b, str):
                self.charge(len(b) >> 8)
                if not isinstance(a, str):
                    self.fail(f"Operation `in` not supported for types `{type_name(a)}` and `string`", pos)
                r = a in b
            elif isinstance(b, list | tuple):
                if isinstance(a, str):  # str equality is the same in Python: scan in C
                    self.charge(len(b) >> 4)
                    r = a in b
                else:
                    self.charge(len(b) >> 2)
                    r = any(_eq(a, x) for x in b)
            elif isinstance(b, dict):
                self.hashable(a, pos)
                r = a in b
            elif isinstance(b, range):
                r = a in b
            else:
                self.fail(
                    f"Operation `in` not supported for types `{type_name(a)}` and `{type_name(b)}`", pos
                )
            return r if op == "in" else not r
        ok = (isinstance(a, int | float) and isinstance(b, int | float)) or (
            type(a) is type(b) and isinstance(a, str | bytes | list | tuple)
        )
        if not ok:
            self.fail(
                f"Operation `compare` not supported for types `{type_name(a)}` and `{type_name(b)}`", pos
            )
        try:
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        except TypeError:
            self.fail(f"Operation `{op}` not supported for these values", pos)

    def index(self, obj, key, pos):
        if isinstance(obj, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                self.fail(
                    f"Type of parameter `index` doesn't match, expected `int`, actual `{type_name(key)}`", pos
                )
            n = key + len(obj) if key < 0 else key
            if not 0 <= n < len(obj):
                self.fail(f"Index `{key}` is out of bound", pos)
            return obj[n]
        if isinstance(obj, dict):
            self.hashable(key, pos)
            if key not in obj:
                self.fail(f"Key `{srepr(key)}` was not found", pos)
            return obj[key]
        if isinstance(obj, range):
            return obj[key]
        self.fail(f"Operation `[]` not supported on type `{type_name(obj)}`", pos)

    def slice(self, e, local):
        obj = self.eval(e[2], local)
        parts = []
        for x in e[3:6]:
            v = self.eval(x, local) if x is not None else None
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                self.fail(f"Slice indices must be integers or None, got `{type_name(v)}`", e[1])
            parts.append(v)
        if parts[2] == 0:
            self.fail("Slice step cannot be zero", e[1])
        if not isinstance(obj, list | tuple | str | range):
            self.fail(f"Operation `[::]` not supported on type `{type_name(obj)}`", e[1])
        out = obj[parts[0] : parts[1] : parts[2]]
        self.charge(len(out) >> 6)
        return out

    def getattr(self, obj, name, pos):
        fn = self.methods(obj, name) if self.methods is not None else None
        if fn is None:
            msg = f"Object of type `{type_name(obj)}` has no attribute `{name}`"
            self.fail(with_suggestion(msg, name, METHOD_NAMES.get(type_name(obj), [])), pos)
        return BoundMethod(obj, name, fn)


def _eq(a, b) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return False
    return a == b
