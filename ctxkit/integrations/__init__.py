"""Integrations with agent frameworks and observability stacks, one module per tool, each
behind its own extra:

* ``ctxkit.integrations.langchain`` (``ctxkit[langchain]``): an ``AgentMiddleware`` for
  LangChain v1 ``create_agent`` that assembles each model request through ctxkit layers.
* ``ctxkit.integrations.openai_agents`` (``ctxkit[openai-agents]``): a
  ``call_model_input_filter`` and a ``Session`` for the OpenAI Agents SDK.
* ``ctxkit.integrations.otel`` (``ctxkit[otel]``): CallRecords as OpenTelemetry spans
  (GenAI semantic conventions).

Importing this package imports none of them.
"""
