"""One name -> object registry, shared by the model zoo and the datasets.

Names and aliases are case-insensitive; the canonical name keeps its spelling. An unknown name
raises the registry's error (a subclass of ``UnknownNameError``) with a "did you mean" and the
list of canonical names. An entry can carry extras under a key (``attach``): the MXNet name map
of a model lives with the model's entry, under the model's own name.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable, Optional

__all__ = ["Registry", "UnknownNameError", "did_you_mean"]


def did_you_mean(name, candidates, rename=None) -> str:
    """`` Did you mean 'a' or 'b'?`` for the (up to 3) candidates close to ``name``
    (case-insensitive), each shown as ``rename(candidate)`` when given; "" when none is."""
    close = difflib.get_close_matches(str(name).lower(), list(candidates), n=3, cutoff=0.5)
    shown = list(dict.fromkeys(rename(c) if rename else c for c in close))
    return f" Did you mean {' or '.join(map(repr, shown))}?" if shown else ""


class UnknownNameError(KeyError):
    """An unregistered model or dataset name (the user's mistake)."""

    def __str__(self):  # KeyError would show the message repr-quoted
        return str(self.args[0]) if self.args else ""


class Registry:
    """``kind`` names the things held ("model", "dataset") in messages; ``error`` is the
    exception raised for an unknown name; ``loader`` (optional) runs once before the first
    lookup, to import the modules that register themselves."""

    def __init__(self, kind: str, error: type[UnknownNameError] = UnknownNameError,
                 loader: Optional[Callable[[], None]] = None):
        self.kind, self.error, self._loader = kind, error, loader
        self._items: dict[str, Any] = {}     # canonical name -> object
        self._lookup: dict[str, str] = {}    # lower-case name or alias -> canonical name
        self._extras: dict[tuple[str, str], Any] = {}
        self._loading = False

    def register(self, name: str, aliases: Iterable[str] = ()):
        """Decorator: register the decorated object under ``name`` and ``aliases``."""
        def wrap(obj):
            self.add(name, obj, aliases)
            return obj
        return wrap

    def add(self, name: str, obj, aliases: Iterable[str] = ()) -> None:
        for key in (name, *aliases):
            other = self._lookup.get(key.lower())
            if other is not None and other != name:
                raise ValueError(f"{self.kind} name {key!r} is already registered for {other!r}")
        for key in (name, *aliases):
            self._lookup[key.lower()] = name
        self._items[name] = obj

    def _load(self) -> None:
        if self._loader is not None and not self._loading:
            self._loading = True      # the loaded modules register (and may look up) names
            try:
                self._loader()
                self._loader = None
            finally:
                self._loading = False

    def canonical(self, name: str) -> str:
        """The canonical spelling of ``name`` or an alias; the registry's error if unknown."""
        self._load()
        key = str(name).lower()
        if key not in self._lookup:
            hint = did_you_mean(key, self._lookup, self._lookup.get)
            raise self.error(f"unknown {self.kind} {name!r}.{hint} Available {self.kind}s: "
                             f"{', '.join(sorted(self._items, key=str.lower))} (names are "
                             f"case-insensitive).")
        return self._lookup[key]

    def get(self, name: str):
        return self._items[self.canonical(name)]

    def names(self, aliases: bool = False) -> list[str]:
        """Canonical names (with ``aliases``: every accepted lower-case name), sorted."""
        self._load()
        return sorted(self._lookup) if aliases else sorted(self._items)

    def __contains__(self, name) -> bool:
        self._load()
        return str(name).lower() in self._lookup

    def name_of(self, obj) -> Optional[str]:
        """The canonical name ``obj`` is registered under (None if it is not)."""
        self._load()
        return next((n for n, o in self._items.items() if o is obj), None)

    def attach(self, name: str, key: str, value) -> None:
        """Keep ``value`` with entry ``name`` under ``key`` (e.g. a model's MXNet name map)."""
        self._extras[(self.canonical(name), key)] = value

    def attached(self, name: str, key: str, default=None):
        return self._extras.get((self.canonical(name), key), default)

    def with_attached(self, key: str) -> list[str]:
        """Canonical names of the entries carrying ``key``."""
        return sorted(n for n, k in self._extras if k == key)
