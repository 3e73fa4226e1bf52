"""Config: a read-only mapping of settings with typed getters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_lines(lines: Iterable[str]) -> dict[str, str]:
    """``key = value`` lines to a dict; blank lines and ``#`` comments are skipped."""
    out: dict[str, str] = {}
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise ValueError(f"line {n}: expected 'key = value', got {raw!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        out[key.lower()] = value.strip('"')
    return out


class Config:
    """Settings, highest priority last: ``Config(defaults, file_values, env_values)``."""

    def __init__(self, *layers: Mapping[str, Any]) -> None:
        self._values: dict[str, Any] = {}
        for layer in layers:
            self._values.update({k.lower(): v for k, v in layer.items()})

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is not set."""
        return self._values[key.lower()]

    def require(self, key: str) -> Any:
        """The value of ``key``; KeyError naming the key when it is not set."""
        if key.lower() not in self._values:
            raise KeyError(f"missing setting {key!r}")
        return self._values[key.lower()]

    def get_int(self, key: str, default: int = 0) -> int:
        value = self.get(key, default)
        return int(value)

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.get(key, default)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"setting {key!r}: {value!r} is not a boolean")
