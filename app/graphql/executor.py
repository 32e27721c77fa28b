"""A shortcut in graphql-core's executor for the commonest field: a plain attribute of a
strawberry type returning a scalar or an enum (`title`, `status`, `createdAt`, ...).

graphql-core executes every field the same way: build a resolve info, read the arguments,
call strawberry's resolver (which reads the attribute), check for an awaitable, then dispatch
on the return type to coerce the leaf. A page of 50 incidents has about a thousand fields,
four in five of them such leaves, and that machinery costs more than the page's SQL. For a
field whose resolver is strawberry's default (no resolver, no field extension, no exception
handler), whose type is a scalar or an enum (nullable or not) and with no middleware, this
executor reads the attribute and coerces it directly, as `complete_leaf_value` would.

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


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with the plain-leaf shortcut (see the module docstring)."""

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Path, position_context: Any) -> Any:
        if self.middleware_manager is None or (
                self.middleware_manager._middleware_resolvers is None):
            field_def = parent_type.fields.get(field_details_list[0].node.name.value)
            name, leaf, non_null = _plan(field_def) if field_def else _NOT_A_PLAIN_LEAF
            if leaf is not None:
                try:
                    value = getattr(source, name)
                except Exception:
                    value = _MISSING
                if value is None:
                    if not non_null:
                        return None
                elif value is not _MISSING and not isinstance(value, Exception):
                    try:
                        coerced = leaf.coerce_output_value(value)
                    except Exception:
                        coerced = None
                    if coerced is not Undefined and coerced is not None:
                        return coerced
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)
