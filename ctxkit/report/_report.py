"""Report: the figures of a session (``Figures``) with their renderings attached.

Owns the public face users print, save and serve: ``str(report)``/``render()`` (terminal
text), ``__rich__`` (rich renderables), ``to_html`` (one self-contained page); ``to_dict``
and ``to_json`` come with the figures. Dependencies point down: this module imports the
renderers, the renderers import only ``Figures``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._html import render_html
from ._model import Figures
from ._terminal import render_text, renderables


class Report(Figures):
    """Figures for one or more sessions of calls, renderable for a terminal or a browser."""

    __slots__ = ()

    def to_html(self, path: str | os.PathLike[str] | None = None, *,
                title: str = "ctxkit report") -> str:
        """A single self-contained HTML file with charts; written to ``path`` if given."""
        html = render_html(self, title=title)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def render(self, width: int = 100) -> str:
        """The terminal rendering as plain text."""
        return render_text(self, width=width)

    def __rich__(self) -> Any:
        return renderables(self)

    def __str__(self) -> str:
        return self.render()
