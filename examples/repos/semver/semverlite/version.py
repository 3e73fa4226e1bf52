"""Version: MAJOR.MINOR.PATCH, ordered numerically."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class Version:
    """A release number; versions compare field by field."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def bump(self, part: str) -> Version:
        """The next version after a ``major``, ``minor`` or ``patch`` release."""
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            return Version(self.major, self.minor, self.patch + 1)
        raise ValueError(f"part must be major, minor or patch, got {part!r}")


def parse(text: str) -> Version:
    """``"1.10.0"`` (or ``"v1.10.0"``) -> ``Version(1, 10, 0)``."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return Version(*match.groups())
