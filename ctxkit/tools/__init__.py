"""The agent's tools, public: read, search, edit and test a repository, confined to it.

``RepoTools(root)`` gives bound methods (``list_dir``, ``read_file``, ``grep``,
``edit_file``, ``write_file``, ``run``, ``run_tests``) that are plain Python callables: pass
them to ``Prefix(tools=...)`` and the pipeline's tool loop runs them. ``tool_schema`` derives
the JSON schema a provider sees from a callable's signature and docstring.
``plain_lines`` and ``tests_passed`` read the tools' own output back.

What needs an OS sandbox: ``run`` and ``run_tests`` execute code the model chose (a
command, a ``conftest.py``); they run under ``bwrap`` (the repository the only writable
path) where it is installed and works, see docs/tools.md. The file tools are confined by
path resolution alone: regular files whose real path is under the root.
"""

from .._tools import tool_schema
from ._output import plain_lines, tests_passed
from ._proc import CommandRefused, canonical_output, run_process, scrubbed_env
from ._repo import RepoTools, ToolError

__all__ = ["CommandRefused", "RepoTools", "ToolError", "canonical_output", "plain_lines",
           "run_process", "scrubbed_env", "tests_passed", "tool_schema"]
