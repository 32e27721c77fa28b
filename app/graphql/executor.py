"""A shortcut in graphql-core's executor for the commonest field: a plain attribute of a
strawberry type returning a scalar or an enum (`title`, `status`, `createdAt`, ...).

graphql-core executes every field the same way: build a resolve info, read the arguments,
call strawberry's resolver (which reads the attribute), check for an awaitable, then dispatch
on the return type to coerce the leaf. A page of 50 incidents has about a thousand fields,
four in five of them such leaves, and that machinery costs more than the page's SQL. For a
field whose resolver is strawberry's default (no resolver, no field extension, no exception
handler), whose type is a scalar or an enum (nullable or not) and with no middleware, this
executor's `execute_fields` reads the attribute and coerces it inline, as
`complete_leaf_value` would; every other field goes through graphql-core's `execute_field`.

Anything unusual is left to graphql-core, which then produces the usual result or error:
the attribute is missing, the value is an exception, null where null is not allowed, or the
coercion refuses it. The shortcut never decides an error itself, so results are the same
(tests/graphql/test_executor.py runs documents both ways and compares)."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

STRAWBERRY_FIELD = "strawberry-definition"  # where strawberry keeps a field's definition

_MISSING = object()
_NOT_A_PLAIN_LEAF = ("", None, False)
Plan = tuple[str, GraphQLLeafType | None, bool]  # attribute, leaf type, non-null


def _plan(field_def: GraphQLField) -> Plan:
    """How to read this field directly, worked out once and kept on the definition (which
    lives as long as its schema); `_NOT_A_PLAIN_LEAF` when graphql-core must run it."""
    plan: Plan | None = getattr(field_def, "_tocsin_plan", None)
    if plan is not None:
        return plan
    plan = _NOT_A_PLAIN_LEAF
    resolve = field_def.resolve
    field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
    return_type: Any = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    leaf = return_type.of_type if non_null else return_type
    if (resolve is not None and getattr(resolve, "_is_default", False)
            and isinstance(field, StrawberryField) and field.default_resolver is getattr
            and is_leaf_type(leaf)):
        plan = (field.python_name, leaf, non_null)
    field_def._tocsin_plan = plan  # type: ignore[attr-defined]
    return plan


def _read_leaf(source: Any, name: str, leaf: GraphQLLeafType, non_null: bool) -> Any:
    """The field's coerced value, or `_MISSING` when graphql-core must run the field (it
    then reports whatever is wrong exactly as it would have)."""
    try:
        value = getattr(source, name)
    except Exception:  # graphql-core runs the field and reports it
        return _MISSING
    if value is None:
        return _MISSING if non_null else None
    if isinstance(value, Exception):
        return _MISSING
    try:
        coerced = leaf.coerce_output_value(value)
    except Exception:  # graphql-core runs the field and reports it
        return _MISSING
    return _MISSING if coerced is Undefined or coerced is None else coerced


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with the plain-leaf shortcut (see the module docstring)."""

    def _shortcut_allowed(self) -> bool:
        manager = self.middleware_manager
        return manager is None or manager._middleware_resolvers is None

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                       path: Path | None, grouped_field_set: Any,
                       position_context: Any) -> Any:
        """graphql-core's `execute_fields`, with plain leaves read inline: no path, no
        resolve info, no awaitable check for them."""
        if not self._shortcut_allowed():
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        fields = parent_type.fields
        try:
            for response_name, field_details_list in grouped_field_set.items():
                field_def = fields.get(field_details_list[0].node.name.value)
                if field_def is not None:
                    name, leaf, non_null = _plan(field_def)
                    if leaf is not None:
                        value = _read_leaf(source_value, name, leaf, non_null)
                        if value is not _MISSING:
                            results[response_name] = value
                            continue
                result = super().execute_field(
                    parent_type, source_value, field_details_list,
                    Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settle what other fields started, as graphql-core does
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                results[awaitable_fields[0]] = await results[awaitable_fields[0]]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()
