"""Paths into a page or a record: the ``records``, ``id``, ``next``, ``total``, ... keys.

Two spellings:

- dotted: ``data.items``, ``meta.next_cursor``; a segment of digits indexes a list
  (``results.0.id``); ``""`` is the whole document;
- JSONPath when it starts with ``$`` (``$['@odata.nextLink']``), for keys that hold dots or
  odd characters; read by jsonpath-ng (its ``ext`` grammar), the first match counts.

A path is compiled once (:func:`compile_path`); a bad JSONPath is a :class:`ConfigError`
naming the key. Finding nothing gives :data:`MISSING`, which is not ``None`` (a JSON
``null`` is a value the pagination rules read as "no next page").
"""

from __future__ import annotations

import copy
from typing import Any, Final

from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from proxy.errors import ConfigError


class _Missing:
    """Nothing at the path (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class Path:
    """A compiled path; :meth:`get` reads it, :meth:`remove` drops what it names."""

    def __init__(self, text: str, where: str = "path") -> None:
        self.text = text
        self._jsonpath: JSONPath | None = None
        self._parts: tuple[str, ...] = ()
        if text.startswith("$"):
            try:
                self._jsonpath = parse_jsonpath(text)
            except Exception as exc:
                # Not only JsonPathLexerError/ParserError: jsonpath-ng's parser raises plain
                # Exceptions on some inputs.
                raise ConfigError(f"{where}: not a JSONPath: {text!r} ({exc})") from None
        elif text:
            self._parts = tuple(text.split("."))
            if any(part == "" for part in self._parts):
                raise ConfigError(
                    f"{where}: {text!r} has an empty segment; write a key with dots as a "
                    "JSONPath, e.g. $['a.b']"
                )

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    def get(self, doc: Any) -> Any:
        """The value at this path in ``doc``, or MISSING."""
        if self._jsonpath is not None:
            found = self._jsonpath.find(doc)
            return found[0].value if found else MISSING
        value = doc
        for part in self._parts:
            value = _step(value, part)
            if value is MISSING:
                return MISSING
        return value

    def remove(self, doc: Any) -> Any:
        """A copy of ``doc`` without what this path names (``ignore``: left out of change
        detection); ``doc`` itself is not changed."""
        if self._jsonpath is not None:
            return self._jsonpath.filter(lambda _: True, copy.deepcopy(doc))
        if not self._parts or _get_parent(doc, self._parts) is MISSING:
            return doc
        result = copy.deepcopy(doc)
        parent = _get_parent(result, self._parts)
        last = self._parts[-1]
        if isinstance(parent, dict):
            parent.pop(last, None)
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            del parent[int(last)]
        return result


def _step(value: Any, part: str) -> Any:
    if isinstance(value, dict):
        return value.get(part, MISSING)
    if isinstance(value, list) and part.isdigit():
        index = int(part)
        return value[index] if index < len(value) else MISSING
    return MISSING


def _get_parent(doc: Any, parts: tuple[str, ...]) -> Any:
    value = doc
    for part in parts[:-1]:
        value = _step(value, part)
        if value is MISSING:
            return MISSING
    return value


def compile_path(text: str, where: str = "path") -> Path:
    """Compile ``text`` once; ``where`` (``sources.orders.records``) names it in errors."""
    return Path(text, where)


__all__ = ["MISSING", "Path", "compile_path"]
