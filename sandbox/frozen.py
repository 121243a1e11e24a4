"""``Frozen``: the immutable, annotated record the sandbox's data types are made of; and
``Record``, the plain attribute bag for the launcher's intermediate values.

Why not ``dataclasses``: ``sandbox run`` imports these types at every launch, and
``dataclasses`` imports ``re`` and ``inspect`` (~10 ms; tests/sandbox/test_startup_imports.py
keeps them off that path). A subclass declares its fields as annotations, with a class-level
value as the default:

    class Example(Frozen):
        name: str
        tags: tuple[str, ...] = ()

Instances take keyword arguments only, refuse assignment, compare and hash by value (in
field order), and ``replace(**changes)`` makes a changed copy. Standard library only.
"""

from __future__ import annotations


class Frozen:
    """An immutable record; fields are the class's (and its bases') annotations."""

    __fields__: tuple[str, ...] = ()

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            # Not inspect.get_annotations: inspect costs ~10 ms to import (the hot path).
            for name in klass.__dict__.get("__annotations__", {}):  # noqa: RUF063
                if not name.startswith("_") and name not in names:
                    names.append(name)
        cls.__fields__ = tuple(names)

    def __init__(self, **values) -> None:
        d = self.__dict__
        cls = type(self)
        for name in cls.__fields__:
            if name in values:
                d[name] = values.pop(name)
            elif hasattr(cls, name):
                d[name] = getattr(cls, name)
            else:
                raise TypeError(f"{cls.__name__}: missing field {name!r}")
        if values:
            raise TypeError(f"{cls.__name__}: unknown field(s) {', '.join(sorted(values))}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable (use .replace())")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple:
        return tuple(self.__dict__[n] for n in self.__fields__)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(_hashable(v) for v in self._values())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={self.__dict__[n]!r}' for n in self.__fields__)})"

    def replace(self, **changes):
        """A copy with ``changes`` applied."""
        values = {n: self.__dict__[n] for n in self.__fields__}
        values.update(changes)
        return type(self)(**values)

    def as_dict(self) -> dict:
        """Field name -> value (nested records stay records)."""
        return {n: self.__dict__[n] for n in self.__fields__}


def _hashable(v):
    if isinstance(v, dict) and not isinstance(v, FrozenDict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


class Record:
    """A tiny attribute bag (no dataclasses: importing them costs ~8 ms)."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__


class FrozenDict(dict):
    """A read-only dict (a ``dict`` still, so JSON and ``dict(x)`` work); hashable by its items."""

    __slots__ = ()

    def _refuse(self, *a, **kw):
        raise TypeError("this mapping is read-only (part of an immutable policy)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.items())))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self):
        return (FrozenDict, (dict(self),))
