"""Settings from environment variables: ``APP_PORT=8080`` -> ``port = "8080"``."""

from __future__ import annotations

from collections.abc import Mapping

from .config import Config


def from_environ(environ: Mapping[str, str], defaults: Mapping[str, object],
                 prefix: str = "APP_") -> Config:
    """A Config of ``defaults`` overridden by the prefixed variables of ``environ``."""
    env = {k[len(prefix):].lower(): v for k, v in environ.items() if k.startswith(prefix)}
    config = Config(defaults, env)
    if config.get_bool("debug") and config.get("log_level") is None:
        env["log_level"] = "debug"
        config = Config(defaults, env)
    return config
