"""GraphQL over HTTP, per the GraphQL-over-HTTP specification: JSON POST, GET for queries
only, `application/graphql-response+json` (with its status codes) or legacy
`application/json`, chosen from the Accept header. GraphiQL for browsers asking for HTML."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from app.auth.service import bearer_token
from app.config import Settings
from app.errors import Unauthenticated
from app.graphql.context import Context
from app.graphql.errors import database_unavailable, public_error
from app.graphql.limits import limit_extensions
from app.graphql.origins import origin_allowed
from app.graphql.ratelimit import RateLimiter, Refusal, token_key

log = logging.getLogger("app.graphql.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ALLOW = "GET, POST"

ContextFactory = Callable[[Request], Any]


def _token_bucket(authorization: str | None) -> str | None:
    """The rate limiter's key for the request's token: the bare token of `Bearer <token>`,
    as a WebSocket's connection_init gives it, so a token has one budget on both. A header
    that is not a bearer token (refused later) gets a bucket of its own."""
    try:
        token = bearer_token(authorization)
    except Unauthenticated:
        return token_key(str(authorization))
    return token_key(token) if token is not None else None


class RequestError(Exception):
    """The HTTP request itself is wrong: answered with `status` and one error."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST",
                 headers: dict[str, str] | None = None,
                 extensions: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extensions = extensions or {}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when we can serve none."""
    if not accept or not accept.strip():
        return JSON
    offered: list[tuple[float, str]] = []
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            offered.append((q, media.lower()))
    offered.sort(key=lambda item: -item[0])
    for _, media in offered:
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media == JSON:
            return JSON
        if media in ("*/*", "application/*"):
            return JSON  # the spec's advice for legacy clients
    return None


def _wants_ide(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


# PostgreSQL cannot store NUL in text, and no incident text needs one: refused everywhere alike.
def nul_refused() -> RequestError:
    return RequestError(400, "text must not contain NUL characters", "BAD_USER_INPUT")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 once it passes `max_bytes` (declared or streamed)."""
    declared = request.headers.get("content-length")
    too_large = RequestError(413, f"the body is larger than {max_bytes} bytes "
                             "(limit maxBodyBytes)", "LIMIT_EXCEEDED",
                             extensions=limit_extensions("maxBodyBytes", max_bytes))
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise too_large
        except ValueError:
            raise RequestError(400, "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(
    request: Request, settings: Settings
) -> list[dict[str, Any]] | dict[str, Any]:
    """One operation's parameters, or a list of them for a batch (when batching is on)."""
    if request.method == "GET":
        if len(request.url.query) > settings.max_body_bytes:
            raise RequestError(414, "the query string is too long (limit maxBodyBytes)",
                               "LIMIT_EXCEEDED",
                               extensions=limit_extensions("maxBodyBytes", settings.max_body_bytes))
        params: dict[str, Any] = dict(request.query_params)
        if any("\x00" in v or "\\u0000" in v for v in params.values()):
            raise nul_refused()
        for key in ("variables", "extensions"):
            if key in params and params[key] != "":
                try:
                    params[key] = orjson.loads(params[key])
                except orjson.JSONDecodeError:
                    raise RequestError(400, f"{key} is not valid JSON") from None
            elif key in params:
                params[key] = None
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        # Also the CSRF defence: text/plain and form bodies are what a browser may send
        # cross-site without a CORS preflight.
        raise RequestError(415, "POST bodies must be application/json", "UNSUPPORTED_MEDIA_TYPE")
    body = await read_body(request, settings.max_body_bytes)
    if b"\\u0000" in body or b"\x00" in body:
        raise nul_refused()
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError(400, "the body is not valid JSON") from None
    if isinstance(params, list):
        if not settings.batching:
            raise RequestError(400, "batched operations are not enabled (setting batching)",
                               "BATCHING_DISABLED")
        if not params or len(params) > settings.max_batch_size:
            raise RequestError(400, f"a batch holds 1 to {settings.max_batch_size} operations "
                               "(limit maxBatchSize)", "LIMIT_EXCEEDED",
                               extensions=limit_extensions("maxBatchSize",
                                                           settings.max_batch_size))
        if not all(isinstance(p, dict) for p in params):
            raise RequestError(400, "every operation of a batch must be a JSON object")
        return params
    if not isinstance(params, dict):
        raise RequestError(400, "the body must be a JSON object")
    return params


def check_params(params: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None,
                                                   dict[str, Any] | None]:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "query must be a non-empty string")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "variables must be a JSON object")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "operationName must be a string")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "extensions must be a JSON object")
    return query, variables, operation_name, extensions


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _refused(refusal: Refusal, media: str) -> Response:
    body = {"errors": [{"message": refusal.message, "extensions": {
        "code": "RATE_LIMITED", "limit": refusal.limit, "retryAfter": refusal.retry_after}}]}
    return _respond(body, 429, media, {"Retry-After": str(refusal.retry_after)})


def _respond(body: dict[str, Any], status: int, media: str,
             headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=f"{media}; charset=utf-8",
        headers=headers,
    )


class GraphQLHTTPEndpoint:
    def __init__(self, schema: Any, build_context: Callable[[Request], Any],
                 graphiql: bool, settings: Settings | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.schema = schema
        self.build_context = build_context
        self.graphiql = graphiql
        self.settings = settings or Settings()
        self.limiter = limiter or RateLimiter(self.settings)
        self.hide_suggestions = not self.settings.field_suggestions_enabled

    async def _guard(self, request: Request, media: str) -> Response | None:
        """The cheap refusals, before the body is read or the database touched."""
        if not origin_allowed(request.headers, self.settings.allowed_origins):
            return _respond(_error_body("this origin is not allowed (TOCSIN_ALLOWED_ORIGINS)",
                                        "FORBIDDEN_ORIGIN"), 403, media)
        address = request.client.host if request.client else None
        authorization = request.headers.get("authorization")
        refusal = await self.limiter.check_request(
            address, _token_bucket(authorization), lockout=bool(authorization))
        return _refused(refusal, media) if refusal else None

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            return Response(status_code=405, headers={"Allow": ALLOW})
        media = negotiate(request.headers.get("accept")) or JSON
        refused = await self._guard(request, media)
        if refused is not None:
            return refused
        if self.graphiql and _wants_ide(request):
            return HTMLResponse(get_graphql_ide_html())
        if negotiate(request.headers.get("accept")) is None:
            return _respond(_error_body("cannot answer in any accepted media type",
                                        "NOT_ACCEPTABLE"), 406, JSON)
        address = request.client.host if request.client else None
        try:
            params = await read_params(request, self.settings)
            batch = params if isinstance(params, list) else None
            if batch is not None:
                extra = len(batch) - 1  # a batch costs one request per operation
                refusal = await self.limiter.check_request(
                    address, _token_bucket(request.headers.get("authorization")),
                    extra) if extra else None
                if refusal is not None:
                    return _refused(refusal, media)
            operations = [check_params(p) for p in (batch or [params])]  # type: ignore[list-item]
            context: Context = await self.build_context(request)
        except RequestError as exc:
            body = {"errors": [{"message": exc.message,
                                "extensions": {"code": exc.code, **exc.extensions}}]}
            return _respond(body, exc.status, media, exc.headers)
        except Unauthenticated as exc:
            await self.limiter.auth_failed(address)
            return _respond({"errors": [{"message": exc.message, "extensions": exc.extensions}]},
                            401, media, {"WWW-Authenticate": "Bearer"})
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("database unavailable: %s", exc)
            return _respond(_error_body("the database is unavailable; try again shortly",
                                        "SERVICE_UNAVAILABLE"), 503, media, {"Retry-After": "1"})
        if batch is None:
            status, body, headers = await self._execute(request, operations[0], context, media)
            return _respond(body, status, media, headers)
        bodies = [(await self._execute(request, op, context, media))[1] for op in operations]
        return Response(orjson.dumps(bodies), status_code=200,
                        media_type=f"{media}; charset=utf-8")

    async def _execute(self, request: Request, operation: tuple[Any, ...], context: Context,
                       media: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        query, variables, operation_name, extensions = operation
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
                operation_extensions=extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                return (405 if request.method == "GET" else 400,
                        _error_body("subscriptions need a WebSocket connection", "BAD_REQUEST"),
                        {"Allow": ALLOW})
            return 405, _error_body("mutations need POST", "METHOD_NOT_ALLOWED"), {"Allow": "POST"}
        except (MissingQueryError, CannotGetOperationTypeError) as exc:
            return 400, _error_body(str(exc) or "no operation to run", "BAD_USER_INPUT"), None
        errors = [public_error(e, hide_suggestions=self.hide_suggestions).formatted
                  for e in (result.errors or [])]
        request_failed = isinstance(result, PreExecutionError) or (
            result.data is None and errors and all("path" not in e for e in errors)
        )
        if request_failed:
            return (400 if media == GRAPHQL_RESPONSE else 200), {"errors": errors}, None
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        return 200, body, None
