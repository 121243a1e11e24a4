"""Starlark's standard globals and the methods of str, list and dict (the parts rule files use)."""

from __future__ import annotations

from cordon.policy.starlark.interp import (
    MAX_SIZE,
    BoundMethod,
    Builtin,
    Function,
    srepr,
    sstr,
    truth,
    type_name,
)

# Not predeclared in the reference either: print, struct, json, set, isinstance.


def _n(interp, name, args, kwargs, lo, hi, kw=()):
    if len(args) < lo:
        interp.fail(f"Missing parameter for call to `{name}`")
    if len(args) > hi:
        interp.fail(f"Found {len(args) - hi} extra positional argument(s) for call to {name}")
    extra = [k for k in kwargs if k not in kw]
    if extra:
        interp.fail(f"Found `{'`, `'.join(extra)}` extra named parameter(s) for call to {name}")


def _len(i, a, k):
    _n(i, "len", a, k, 1, 1)
    v = a[0]
    if isinstance(v, str | bytes | list | tuple | dict | range):
        return len(v)
    i.fail(f"Operation `len()` not supported on type `{type_name(v)}`", native=True)


def _range(i, a, k):
    _n(i, "range", a, k, 1, 3)
    for x in a:
        if not isinstance(x, int) or isinstance(x, bool):
            i.fail(f"Type of parameter doesn't match, expected `int`, actual `{type_name(x)}`")
    if len(a) == 3 and a[2] == 0:
        i.fail("Range step cannot be zero")
    return range(*a)


def _str(i, a, k):
    _n(i, "str", a, k, 1, 1)
    out = sstr(a[0])
    i.charge(len(out) >> 2)
    return out


def _repr(i, a, k):
    _n(i, "repr", a, k, 1, 1)
    out = srepr(a[0])
    i.charge(len(out) >> 2)
    return out


def _int(i, a, k):
    _n(i, "int", a, k, 1, 2, ("base",))
    v = a[0]
    base = a[1] if len(a) > 1 else k.get("base")
    if isinstance(v, str):
        try:
            return int(v, base if base is not None else 10)
        except ValueError:
            i.fail(f"{srepr(v)} is not a valid number")
    if base is not None:
        i.fail("int() can't convert non-string with explicit base")
    if isinstance(v, bool | int):
        return int(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            i.fail("cannot convert float to integer")
        return int(v)
    i.fail(f"int() cannot convert `{type_name(v)}`")


def _float(i, a, k):
    _n(i, "float", a, k, 0, 1)
    if not a:
        return 0.0
    v = a[0]
    if isinstance(v, bool | int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            i.fail(f"{srepr(v)} is not a valid number")
    i.fail(f"float() cannot convert `{type_name(v)}`")


def _bool(i, a, k):
    _n(i, "bool", a, k, 0, 1)
    return truth(a[0]) if a else False


def _list(i, a, k):
    _n(i, "list", a, k, 0, 1)
    if not a:
        return []
    return list(_iter(i, a[0]))


def _tuple(i, a, k):
    _n(i, "tuple", a, k, 0, 1)
    return tuple(_iter(i, a[0])) if a else ()


def _iter(i, v):
    if isinstance(v, list | tuple | dict | range):
        if isinstance(v, range) and len(v) > MAX_SIZE:
            i.fail("value too large (size limit of the rules evaluator)")
        i.steps -= len(v)
        return v
    i.fail(f"Operation `(iter)` not supported on type `{type_name(v)}`")


def _dict(i, a, k):
    _n(i, "dict", a, k, 0, 1, tuple(k))
    out: dict = {}
    if a:
        src = a[0]
        items = src.items() if isinstance(src, dict) else _iter(i, src)
        for item in items:
            if not isinstance(item, list | tuple) or len(item) != 2:
                i.fail("dict: each element must be a pair")
            i.hashable(item[0], None)
            out[item[0]] = item[1]
    out.update(k)
    return out


def _key_fn(i, key):
    if key is None:
        return None
    return lambda x: i.call(key, [x], {}, None)


def _sort_key(i, v):
    if isinstance(v, bool | int | float | str):
        return (0 if not isinstance(v, str) else 1, v)
    if isinstance(v, list | tuple):
        return (2, tuple(_sort_key(i, x) for x in v))
    i.fail(f"Operation `<` not supported for type `{type_name(v)}`")


def _sorted(i, a, k):
    _n(i, "sorted", a, k, 1, 1, ("key", "reverse"))
    items = list(_iter(i, a[0]))
    i.charge(len(items) >> 2)
    kf = _key_fn(i, k.get("key"))
    keyed = [(_sort_key(i, kf(x) if kf else x), x) for x in items]
    types = {t[0][0] for t in keyed}
    if len(types) > 1:
        i.fail("Operation `<` not supported for these types")
    keyed.sort(key=lambda t: t[0], reverse=truth(k.get("reverse", False)))
    return [x for _, x in keyed]


def _reversed(i, a, k):
    _n(i, "reversed", a, k, 1, 1)
    return list(reversed(list(_iter(i, a[0]))))


def _enumerate(i, a, k):
    _n(i, "enumerate", a, k, 1, 2, ("start",))
    start = a[1] if len(a) > 1 else k.get("start", 0)
    return [(n + start, x) for n, x in enumerate(_iter(i, a[0]))]


def _zip(i, a, k):
    _n(i, "zip", a, k, 0, 64)
    return [tuple(t) for t in zip(*[list(_iter(i, x)) for x in a], strict=False)]


def _any(i, a, k):
    _n(i, "any", a, k, 1, 1)
    return any(truth(x) for x in _iter(i, a[0]))


def _all(i, a, k):
    _n(i, "all", a, k, 1, 1)
    return all(truth(x) for x in _iter(i, a[0]))


def _minmax(name, pick):
    def f(i, a, k):
        _n(i, name, a, k, 1, 64, ("key",))
        items = list(_iter(i, a[0])) if len(a) == 1 else list(a)
        if not items:
            i.fail(f"Argument is an empty iterable, {name}() expect a non empty iterable")
        kf = _key_fn(i, k.get("key"))
        return pick(items, key=lambda x: _sort_key(i, kf(x) if kf else x))

    return f


def _abs(i, a, k):
    _n(i, "abs", a, k, 1, 1)
    if isinstance(a[0], int | float) and not isinstance(a[0], bool):
        return abs(a[0])
    i.fail(f"Operation `abs` not supported on type `{type_name(a[0])}`")


def _type(i, a, k):
    _n(i, "type", a, k, 1, 1)
    return type_name(a[0])


def _hasattr(i, a, k):
    _n(i, "hasattr", a, k, 2, 2)
    return method(a[0], a[1]) is not None


def _getattr(i, a, k):
    _n(i, "getattr", a, k, 2, 3)
    m = method(a[0], a[1])
    if m is None:
        if len(a) == 3:
            return a[2]
        i.fail(f"Object of type `{type_name(a[0])}` has no attribute `{a[1]}`")
    return BoundMethod(a[0], a[1], m)


def _fail(i, a, k):
    sep = k.pop("sep", " ")
    k.pop("msg", None)
    i.fail("fail: " + sep.join(sstr(x) for x in a))


def _hash(i, a, k):
    _n(i, "hash", a, k, 1, 1)
    if not isinstance(a[0], str):
        i.fail(f"Type of parameter doesn't match, expected `str`, actual `{type_name(a[0])}`")
    h = 0  # Java's String.hashCode over UTF-16 code units, as Starlark specifies
    data = a[0].encode("utf-16-le", "surrogatepass")
    for k in range(0, len(data), 2):
        h = (31 * h + (data[k] | data[k + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _chr(i, a, k):
    _n(i, "chr", a, k, 1, 1)
    try:
        return chr(a[0])
    except (TypeError, ValueError, OverflowError):
        i.fail(f"chr() argument out of range: {srepr(a[0])}")


def _ord(i, a, k):
    _n(i, "ord", a, k, 1, 1)
    if not isinstance(a[0], str) or len(a[0]) != 1:
        i.fail("ord() expects a string of one character")
    return ord(a[0])


def _dir(i, a, k):
    _n(i, "dir", a, k, 1, 1)
    return sorted(_METHODS.get(type(a[0]), {}))


GLOBALS: dict = {
    name: Builtin(name, fn)
    for name, fn in {
        "len": _len,
        "range": _range,
        "str": _str,
        "repr": _repr,
        "int": _int,
        "float": _float,
        "bool": _bool,
        "list": _list,
        "tuple": _tuple,
        "dict": _dict,
        "sorted": _sorted,
        "reversed": _reversed,
        "enumerate": _enumerate,
        "zip": _zip,
        "any": _any,
        "all": _all,
        "min": _minmax("min", min),
        "max": _minmax("max", max),
        "abs": _abs,
        "type": _type,
        "hasattr": _hasattr,
        "getattr": _getattr,
        "fail": _fail,
        "hash": _hash,
        "chr": _chr,
        "ord": _ord,
        "dir": _dir,
    }.items()
}


# --------------------------------------------------------------------------- methods


def _strargs(i, name, a, lo, hi):
    if not lo <= len(a) <= hi:
        i.fail(f"Wrong number of arguments for `{name}`")
    for x in a:
        if x is not None and not isinstance(x, str):
            i.fail(f"Type of parameter doesn't match, expected `str`, actual `{type_name(x)}`")


def _s_split(i, s, a, k):
    sep = a[0] if a else k.get("sep")
    maxsplit = a[1] if len(a) > 1 else k.get("maxsplit", -1)
    if sep is not None and not isinstance(sep, str):
        i.fail(f"Type of parameter `sep` doesn't match, expected `str`, actual `{type_name(sep)}`")
    if sep == "":
        i.fail("Empty separator")
    return s.split(sep, maxsplit if maxsplit is not None else -1)


def _s_rsplit(i, s, a, k):
    sep = a[0] if a else k.get("sep")
    maxsplit = a[1] if len(a) > 1 else k.get("maxsplit", -1)
    if sep == "":
        i.fail("Empty separator")
    return s.rsplit(sep, maxsplit if maxsplit is not None else -1)


def _s_join(i, s, a, k):
    items = list(_iter(i, a[0])) if a else []
    for x in items:
        if not isinstance(x, str):
            i.fail(
                f"Type of parameter `to_join` doesn't match, expected `str`, actual `{type_name(x)} (repr: {srepr(x)})`"
            )
    i.grow(sum(len(x) for x in items) + len(s) * len(items), None)
    return s.join(items)


def _s_format(i, s, a, k):
    out = []
    auto = 0
    pos = 0
    n = len(s)
    while pos < n:
        c = s[pos]
        if c == "{":
            if s.startswith("{{", pos):
                out.append("{")
                pos += 2
                continue
            end = s.find("}", pos)
            if end < 0:
                i.fail("Unmatched '{' in format string")
            field = s[pos + 1 : end]
            if field == "":
                if auto >= len(a):
                    i.fail("Not enough parameters in format string")
                out.append(sstr(a[auto]))
                auto += 1
            elif field.isdigit():
                if int(field) >= len(a):
                    i.fail("Not enough parameters in format string")
                out.append(sstr(a[int(field)]))
            else:
                if field not in k:
                    i.fail(f"Keyword argument `{field}` not found in format string")
                out.append(sstr(k[field]))
            pos = end + 1
        elif c == "}":
            if s.startswith("}}", pos):
                out.append("}")
                pos += 2
                continue
            i.fail("Standalone '}' in format string")
        else:
            out.append(c)
            pos += 1
    return "".join(out)


def _simple(fn, lo=0, hi=0):
    def m(i, s, a, k):
        _strargs(i, "method", a, lo, hi)
        return fn(s, *a)

    return m


def _s_replace(i, s, a, k):
    if len(a) < 2:
        i.fail("replace: missing arguments")
    for x in a[:2]:
        if not isinstance(x, str):
            i.fail(f"Type of parameter doesn't match, expected `str`, actual `{type_name(x)}`")
    count = a[2] if len(a) > 2 else k.get("count", -1)
    return s.replace(a[0], a[1], count)


def _s_startswith(i, s, a, k):
    p = a[0] if a else None
    if isinstance(p, tuple):
        return s.startswith(p)
    _strargs(i, "startswith", a, 1, 1)
    return s.startswith(p)


def _s_endswith(i, s, a, k):
    p = a[0] if a else None
    if isinstance(p, tuple):
        return s.endswith(p)
    _strargs(i, "endswith", a, 1, 1)
    return s.endswith(p)


def _s_index(i, s, a, k):
    _strargs(i, "index", a[:1], 1, 1)
    r = s.find(*a)
    if r < 0:
        i.fail("Substring not found")
    return r


def _s_elems(i, s, a, k):
    from cordon.policy.starlark.interp import IteratorList

    return IteratorList(s)


_STR_METHODS = {
    "split": _s_split,
    "rsplit": _s_rsplit,
    "join": _s_join,
    "format": _s_format,
    "replace": _s_replace,
    "startswith": _s_startswith,
    "endswith": _s_endswith,
    "strip": _simple(str.strip, 0, 1),
    "lstrip": _simple(str.lstrip, 0, 1),
    "rstrip": _simple(str.rstrip, 0, 1),
    "lower": _simple(str.lower),
    "upper": _simple(str.upper),
    "title": _simple(str.title),
    "capitalize": _simple(str.capitalize),
    "isalpha": _simple(str.isalpha),
    "isdigit": _simple(str.isdigit),
    "isalnum": _simple(str.isalnum),
    "isspace": _simple(str.isspace),
    "islower": _simple(str.islower),
    "isupper": _simple(str.isupper),
    "find": lambda i, s, a, k: s.find(*a),
    "rfind": lambda i, s, a, k: s.rfind(*a),
    "count": lambda i, s, a, k: s.count(*a),
    "index": _s_index,
    "partition": lambda i, s, a, k: s.partition(*a),
    "rpartition": lambda i, s, a, k: s.rpartition(*a),
    "splitlines": lambda i, s, a, k: s.splitlines(*a),
    "removeprefix": _simple(str.removeprefix, 1, 1),
    "removesuffix": _simple(str.removesuffix, 1, 1),
    "elems": _s_elems,
}


def _l_append(i, lst, a, k):
    if len(a) != 1:
        i.fail("append: expected one argument")
    i.grow(len(lst) + 1, None)
    lst.append(a[0])


def _l_extend(i, lst, a, k):
    items = list(_iter(i, a[0]))
    i.grow(len(lst) + len(items), None)
    lst.extend(items)


def _l_insert(i, lst, a, k):
    lst.insert(a[0], a[1])


def _l_pop(i, lst, a, k):
    if not lst:
        i.fail("pop from empty list")
    try:
        return lst.pop(*a)
    except IndexError:
        i.fail("Index out of bound")


def _l_remove(i, lst, a, k):
    try:
        lst.remove(a[0])
    except ValueError:
        i.fail(f"Element {srepr(a[0])} not found in list")


def _l_index(i, lst, a, k):
    try:
        return lst.index(a[0])
    except ValueError:
        i.fail(f"Element {srepr(a[0])} not found in list")


def _l_clear(i, lst, a, k):
    lst.clear()


_LIST_METHODS = {
    "append": _l_append,
    "extend": _l_extend,
    "insert": _l_insert,
    "pop": _l_pop,
    "remove": _l_remove,
    "index": _l_index,
    "clear": _l_clear,
}


def _d_get(i, d, a, k):
    i.hashable(a[0], None)
    return d.get(a[0], a[1] if len(a) > 1 else None)


def _d_pop(i, d, a, k):
    i.hashable(a[0], None)
    if a[0] in d:
        return d.pop(a[0])
    if len(a) > 1:
        return a[1]
    i.fail(f"Key {srepr(a[0])} not found in dictionary")


def _d_setdefault(i, d, a, k):
    i.hashable(a[0], None)
    return d.setdefault(a[0], a[1] if len(a) > 1 else None)


def _d_update(i, d, a, k):
    if a:
        src = a[0]
        d.update(src.items() if isinstance(src, dict) else [tuple(x) for x in _iter(i, src)])
    d.update(k)


_DICT_METHODS = {
    "get": _d_get,
    "keys": lambda i, d, a, k: list(d.keys()),
    "values": lambda i, d, a, k: list(d.values()),
    "items": lambda i, d, a, k: [tuple(x) for x in d.items()],
    "pop": _d_pop,
    "setdefault": _d_setdefault,
    "update": _d_update,
    "clear": lambda i, d, a, k: d.clear(),
}

_LIST_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear"})
_DICT_MUTATORS = frozenset({"pop", "setdefault", "update", "clear"})

_METHODS = {str: _STR_METHODS, list: _LIST_METHODS, dict: _DICT_METHODS}


def method(obj, name):
    """The native implementation of ``obj.name`` or None."""
    if isinstance(obj, Function):
        return None
    table = _METHODS.get(type(obj))
    if table is None or not isinstance(name, str):
        return None
    fn = table.get(name)
    if fn is None:
        return None

    mutating = (table is _LIST_METHODS and name in _LIST_MUTATORS) or (
        table is _DICT_METHODS and name in _DICT_MUTATORS
    )
    # Methods that scan or copy their receiver cost budget in proportion (append/get... do not).
    shift = (
        3
        if table is _STR_METHODS or name in ("index", "remove")
        else (6 if name in ("keys", "values", "items") else None)
    )

    def guarded(i, o, a, k):
        if mutating:
            i.check_mutable(o)
        if shift is not None:
            i.charge(len(o) >> shift)
        try:
            return fn(i, o, a, k)
        except (TypeError, ValueError, IndexError) as e:
            i.fail(f"{name}: {e}")

    return guarded
