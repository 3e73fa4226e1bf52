"""``ctxkit serve``'s HTTP face of the bundled engine: OpenAI- and Anthropic-compatible routes.

``server`` builds the FastAPI app over an ``AsyncEngine``; ``protocol`` holds the pydantic
request models (where outside JSON enters); ``streaming`` turns engine deltas into each
protocol's SSE events. The engine itself (``ctxkit.engine``) knows nothing of HTTP.
"""
