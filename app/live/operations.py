"""Subscription documents: parsed and validated once per distinct text (under the same limits
as HTTP), their root field and arguments read, and each event rendered by a fresh executor.

Rendering never goes through graphql-core's per-subscriber `subscribe()` machinery: its
per-event executor (`build_per_event_executor`, graphql-core 3.3.2) shares a cache keyed by
`id()` of per-event lists and leaks a few KB per subscriber per event. Here one plain
`execute()` runs per group of identical subscriptions per event; its executor dies with it.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import Visitor, visit

from app.config import Settings
from app.graphql.errors import public_error
from app.graphql.limits import validation_rules


class OperationError(Exception):
    """The operation cannot run; `errors` are GraphQL errors for the client."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid operation")
        self.errors = errors

    def formatted(self) -> list[dict[str, Any]]:
        return [dict(public_error(e).formatted) for e in self.errors]


@dataclass(frozen=True)
class Document:
    text: str
    node: DocumentNode


@dataclass(frozen=True)
class Operation:
    """One client operation, ready to subscribe or run."""

    document: Document
    operation: OperationDefinitionNode
    operation_name: str | None
    variables: dict[str, Any]  # as sent (JSON values)
    kind: OperationType
    field: str | None  # the root subscription field
    arguments: dict[str, Any]  # the root field's coerced arguments
    group_variables: bytes  # the variables that can change the rendered result


class DocumentCache:
    def __init__(self, graphql_schema: Any, settings: Settings, maxsize: int = 1024) -> None:
        self.schema = graphql_schema
        self.settings = settings
        self.maxsize = maxsize
        self._cache: OrderedDict[str, Document] = OrderedDict()
        # The same rules as HTTP (app/graphql/limits.py): a limit refuses with the same code.
        self.rules = list(validation_rules(settings))

    def document(self, text: str) -> Document:
        found = self._cache.get(text)
        if found is not None:
            self._cache.move_to_end(text)
            return found
        try:
            node = parse(text, max_tokens=self.settings.max_tokens)
        except GraphQLError as exc:
            raise OperationError([exc]) from None
        errors = validate(self.schema, node, self.rules)
        if errors:
            raise OperationError(list(errors))
        document = Document(text, node)
        self._cache[text] = document
        if len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return document

    def prepare(self, payload: Any) -> Operation:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise OperationError([GraphQLError("payload.query must be a string")])
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName") or None
        if not isinstance(variables, dict):
            raise OperationError([GraphQLError("payload.variables must be an object")])
        document = self.document(payload["query"])
        operation = get_operation_ast(document.node, operation_name)
        if operation is None:
            raise OperationError([GraphQLError("no operation to run (name it)")])
        kind = operation.operation
        field: str | None = None
        arguments: dict[str, Any] = {}
        group_variables = b""
        if kind == OperationType.SUBSCRIPTION:
            coerced = get_variable_values(self.schema, operation.variable_definitions or (),
                                          variables)
            if isinstance(coerced, list):
                raise OperationError(coerced)
            node = operation.selection_set.selections[0]
            assert isinstance(node, FieldNode)  # validation: one root field, no fragments
            field = node.name.value
            root = self.schema.subscription_type
            try:
                arguments = get_argument_values(root.fields[field], node, coerced)
            except GraphQLError as exc:
                raise OperationError([exc]) from None
            group_variables = orjson.dumps(
                {k: v for k, v in variables.items() if k not in _only_in_after(operation, node)},
                option=orjson.OPT_SORT_KEYS)
        return Operation(document, operation, operation_name, variables, kind, field,
                         arguments, group_variables)


def _only_in_after(operation: OperationDefinitionNode, root: FieldNode) -> set[str]:
    """Variables used only as the root field's `after`: they choose where a stream starts,
    never what an event renders to, so subscribers differing only there share a group."""
    after_vars = {a.value.name.value for a in root.arguments or ()
                  if a.name.value == "after" and isinstance(a.value, VariableNode)}
    if not after_vars:
        return set()
    uses: dict[str, int] = {}

    class Count(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            uses[node.name.value] = uses.get(node.name.value, 0) + 1

    visit(operation.selection_set, Count())
    return {name for name in after_vars if uses.get(name) == 1}


async def render(schema: Any, operation: Operation, root_value: Any, context: Any) -> bytes:
    """The operation's result for one root value, as JSON bytes (errors masked)."""
    result = execute(schema, operation.document.node, root_value=root_value,
                     context_value=context, variable_values=operation.variables,
                     operation_name=operation.operation_name)
    if inspect.isawaitable(result):
        result = await result
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [public_error(e).formatted for e in result.errors]
    return orjson.dumps(body)
