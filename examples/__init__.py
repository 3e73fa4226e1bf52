"""Runnable examples of ctxkit: ``examples/quickstart.py`` and the example coding agent
(``python -m examples.coding_agent``). Not installed with the package; run them from a
ctxkit checkout."""
