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

from app.errors import Unauthenticated
from app.graphql.context import Context
from app.graphql.errors import public_error

log = logging.getLogger("app.graphql.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ALLOW = "GET, POST"

ContextFactory = Callable[[Request], Any]


class RequestError(Exception):
    """The HTTP request itself is wrong: answered with `status` and one error."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


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


async def read_params(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
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
        raise RequestError(415, "POST bodies must be application/json", "UNSUPPORTED_MEDIA_TYPE")
    body = await request.body()
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError(400, "the body is not valid JSON") from None
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


def _respond(body: dict[str, Any], status: int, media: str,
             headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=f"{media}; charset=utf-8",
        headers=headers,
    )


class GraphQLHTTPEndpoint:
    def __init__(self, schema: Any, build_context: Callable[[Request], Any],
                 graphiql: bool) -> None:
        self.schema = schema
        self.build_context = build_context
        self.graphiql = graphiql

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            return Response(status_code=405, headers={"Allow": ALLOW})
        if self.graphiql and _wants_ide(request):
            return HTMLResponse(get_graphql_ide_html())
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return _respond(_error_body("cannot answer in any accepted media type",
                                        "NOT_ACCEPTABLE"), 406, JSON)
        try:
            query, variables, operation_name, extensions = check_params(
                await read_params(request)
            )
            context: Context = await self.build_context(request)
        except RequestError as exc:
            return _respond(_error_body(exc.message, exc.code), exc.status, media, exc.headers)
        except Unauthenticated as exc:
            return _respond({"errors": [{"message": exc.message, "extensions": exc.extensions}]},
                            401, media, {"WWW-Authenticate": "Bearer"})
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
                return _respond(_error_body("subscriptions need a WebSocket connection",
                                            "BAD_REQUEST"), 405 if request.method == "GET"
                                else 400, media, {"Allow": ALLOW})
            return _respond(_error_body("mutations need POST", "METHOD_NOT_ALLOWED"), 405, media,
                            {"Allow": "POST"})
        except (MissingQueryError, CannotGetOperationTypeError) as exc:
            return _respond(_error_body(str(exc) or "no operation to run", "BAD_USER_INPUT"),
                            400, media)
        errors = [public_error(e).formatted for e in (result.errors or [])]
        request_failed = isinstance(result, PreExecutionError) or (
            result.data is None and errors and all("path" not in e for e in errors)
        )
        if request_failed:
            status = 400 if media == GRAPHQL_RESPONSE else 200
            return _respond({"errors": errors}, status, media)
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        return _respond(body, 200, media)


