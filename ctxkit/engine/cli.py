"""``ctxkit serve``'s command line, re-exported here beside the engine it drives.

The definitions live in ``ctxkit/_serve_cli.py`` so that ``ctxkit --help`` does not import
torch (this package's ``__init__`` does).
"""

from .._serve_cli import add_arguments, engine_kwargs, run

__all__ = ["add_arguments", "engine_kwargs", "run"]
