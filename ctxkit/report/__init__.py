"""Reports: aggregate CallRecords and render them (terminal, JSON, self-contained HTML).

``Report`` aggregates a session; the live views (``turn_view``, ``layers_table``,
``calls_table``, ``drift_view``, ``tool_line``) render single turns while an agent runs.
"""

from ._live import calls_table, drift_view, layers_table, tool_line, turn_summary, turn_view
from ._model import layer_order
from ._report import Report

__all__ = ["Report", "calls_table", "drift_view", "layer_order", "layers_table", "tool_line",
           "turn_summary", "turn_view"]
