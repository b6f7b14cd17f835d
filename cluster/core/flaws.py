"""The shared shape of every core's switchable flaws.

Each core declares its flaws as a frozen dataclass of booleans (all off = the correct
design) that subclasses :class:`Flaws`, plus a ``DOCS`` mapping with one line per flaw.
Keeping the explanation next to the switch means the catalog, ``splitbrain show`` and the
reports all explain a flaw in the same words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound="Flaws")


class Flaws:
    DOCS: ClassVar[dict[str, str]] = {}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every flaw's name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def describe(cls, name: str) -> str:
        """What switching on ``name`` does and why it is wrong, in one line."""
        cls._check(name)
        return cls.DOCS[name]

    @classmethod
    def from_names(cls: type[F], names: Iterable[str]) -> F:
        """Flaws with exactly ``names`` switched on (unknown names raise ``ValueError``)."""
        chosen = tuple(names)
        for name in chosen:
            cls._check(name)
        kw: dict[str, Any] = {name: True for name in chosen}
        return cls(**kw)

    def enabled(self) -> tuple[str, ...]:
        """Names of the flaws switched on, in declaration order."""
        return tuple(name for name in self.names() if getattr(self, name))

    @classmethod
    def _check(cls, name: str) -> None:
        if name not in cls.names():
            raise ValueError(f"unknown flaw {name!r}; known: {', '.join(cls.names())}")
