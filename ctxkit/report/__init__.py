"""Reports: aggregate CallRecords and render them (terminal, JSON, self-contained HTML)."""

from ._model import Report, layer_order

__all__ = ["Report", "layer_order"]
