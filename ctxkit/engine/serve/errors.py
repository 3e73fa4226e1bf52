"""Errors of ``ctxkit serve``, each in its protocol's own shape.

Owns the one place that decides what an error body looks like: Anthropic's
``{"type": "error", "error": {"type", "message"}}`` under ``/v1/messages``, OpenAI's
``{"error": {"message", "type", "param", "code"}}`` everywhere else; and the handlers
that route every failure through it (the app's own ``ApiError``, FastAPI's validation
errors, Starlette's 404/405/413, and anything unexpected, which answers 500 without a
traceback). Knows nothing of the engine.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("ctxkit.serve")

# Anthropic's error types by status; OpenAI's are looser (its SDK keys on the status)
_ANTHROPIC_KIND = {400: "invalid_request_error", 401: "authentication_error",
                   403: "permission_error", 404: "not_found_error",
                   405: "invalid_request_error", 413: "request_too_large",
                   429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}
_OPENAI_KIND = {401: "invalid_request_error", 404: "not_found_error",
                413: "invalid_request_error", 500: "server_error"}


class ApiError(Exception):
    """A request the server refuses: ``status`` and a message saying what to change."""

    def __init__(self, status: int, message: str, kind: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def is_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def error_body(path: str, status: int, message: str, kind: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The error body a client of ``path``'s protocol expects."""
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    if is_anthropic(path):
        return {"type": "error", "error": {
            "type": kind or _ANTHROPIC_KIND.get(status, "invalid_request_error"),
            "message": message}}
    return {"error": {"message": message,
                      "type": kind or _OPENAI_KIND.get(status, "invalid_request_error"),
                      "param": None, "code": code}}


def error_response(path: str, status: int, message: str, kind: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse(error_body(path, status, message, kind, code), status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    """Route every error the app can raise through ``error_response``."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.message, exc.kind, exc.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid body"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        msg = str(first.get("msg", "invalid"))
        if first.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        return error_response(request.url.path, 400, f"{where or 'body'}: {msg}")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            detail = f"no route {request.url.path}; see /v1/models, /v1/chat/completions, " \
                     "/v1/completions, /v1/messages"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return error_response(request.url.path, exc.status_code, detail,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request to %s failed", request.url.path)
        return error_response(request.url.path, 500,
                              f"the server failed on this request ({type(exc).__name__}); "
                              "other requests are unaffected, see the server log")
