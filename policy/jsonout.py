"""JSON exactly as serde_json prints it (compact, or 2-space pretty), without importing :mod:`json`.

``json`` pulls in ``re`` and its decoder; the hot path only needs to encode small dicts of
str/list. Strings use the C escaper Python's own json uses with ``ensure_ascii=False``.
"""

from __future__ import annotations

try:
    from _json import encode_basestring as _enc
except ImportError:  # pragma: no cover - CPython always has _json
    from json.encoder import py_encode_basestring as _enc


def dumps(obj, pretty: bool = False) -> str:
    out: list[str] = []
    _write(obj, out, 0 if pretty else None)
    return "".join(out)


def _write(o, out: list[str], indent: int | None) -> None:
    if isinstance(o, str):
        out.append(_enc(o))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        if indent is None:
            out.append("{")
            first = True
            for k, v in o.items():
                if not first:
                    out.append(",")
                first = False
                out.append(_enc(k))
                out.append(":")
                _write(v, out, None)
            out.append("}")
        else:
            pad = "  " * (indent + 1)
            out.append("{\n")
            first = True
            for k, v in o.items():
                if not first:
                    out.append(",\n")
                first = False
                out.append(pad + _enc(k) + ": ")
                _write(v, out, indent + 1)
            out.append("\n" + "  " * indent + "}")
    elif isinstance(o, list | tuple):
        if not o:
            out.append("[]")
            return
        if indent is None:
            out.append("[")
            for i, v in enumerate(o):
                if i:
                    out.append(",")
                _write(v, out, None)
            out.append("]")
        else:
            pad = "  " * (indent + 1)
            out.append("[\n")
            for i, v in enumerate(o):
                if i:
                    out.append(",\n")
                out.append(pad)
                _write(v, out, indent + 1)
            out.append("\n" + "  " * indent + "]")
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    else:
        out.append(repr(o))
