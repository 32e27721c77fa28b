"""Query limits: depth, aliases and tokens, checked before anything runs, and validation that
stays cacheable while they apply.

strawberry's QueryDepthLimiter and MaxAliasesLimiter build a new validation-rule class for
every request, so the rule tuple (part of ValidationCache's key) never repeats and every
request is validated from scratch. Here the rule classes are made once per schema and the
whole validation (graphql-core's rules, strawberry's, the limits, the introspection ban) is
cached by query text. Every limit error carries `extensions.code = LIMIT_EXCEEDED` and
`extensions.limit` naming the setting that refused it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, GraphQLSchema, ValidationContext, ValidationRule, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule, validate
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from app.config import Settings

LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
CACHEABLE_QUERY_CHARS = 20_000  # longer texts are validated but not kept in memory
TOKENS_MESSAGE = re.compile(r"Document contains more than (\d+) tokens")
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def limit_extensions(limit: str, maximum: int) -> dict[str, Any]:
    return {"code": LIMIT_EXCEEDED, "limit": limit, "maximum": maximum}


def _coded(rule: type[ValidationRule], limit: str, maximum: int) -> type[ValidationRule]:
    """`rule` with its errors re-issued under LIMIT_EXCEEDED, naming `limit`.

    strawberry's limit rules do their whole check in `__init__`, so reporting through a
    wrapper for the duration of `__init__` catches every error they raise.
    """

    class CodedLimit(rule):  # type: ignore[misc,valid-type]
        def __init__(self, context: ValidationContext) -> None:
            original = context.report_error

            def report(error: GraphQLError) -> None:
                original(GraphQLError(
                    f"{error.message} (limit {limit})", error.nodes,
                    extensions=limit_extensions(limit, maximum),
                ))

            context.report_error = report  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                context.report_error = original  # type: ignore[method-assign]

    CodedLimit.__name__ = f"{rule.__name__}For{limit}"
    return CodedLimit


def validation_rules(settings: Settings) -> tuple[type[Any], ...]:
    rules: list[type[Any]] = [*specified_rules, MaybeNullValidationRule,
                              OneOfInputValidationRule]
    if settings.max_query_depth > 0:
        rules.append(_coded(depth_validator(settings.max_query_depth, None),
                            "maxQueryDepth", settings.max_query_depth))
    if settings.max_aliases > 0:
        rules.append(_coded(alias_validator(settings.max_aliases), "maxAliases",
                            settings.max_aliases))
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


Validator = Callable[[GraphQLSchema, Any, str | None], list[GraphQLError]]


def make_validator(settings: Settings, cache_size: int = 1024) -> Validator:
    """A validate function for one schema's settings, caching results by query text."""
    rules = validation_rules(settings)
    hide_suggestions = not settings.field_suggestions_enabled

    def run(schema: GraphQLSchema, document: Any) -> list[GraphQLError]:
        try:
            return validate(schema, document, rules, hide_suggestions=hide_suggestions)
        except RecursionError:  # e.g. a chain of hundreds of nested fragments
            return [GraphQLError("the document is nested too deeply (limit maxQueryDepth)",
                                 extensions=limit_extensions("maxQueryDepth",
                                                             settings.max_query_depth))]

    @lru_cache(maxsize=cache_size)
    def cached(schema: GraphQLSchema, query: _QueryText) -> tuple[GraphQLError, ...]:
        return tuple(run(schema, query.document))

    def validator(schema: GraphQLSchema, document: Any, query: str | None) -> list[GraphQLError]:
        if query is None or len(query) > CACHEABLE_QUERY_CHARS:
            return run(schema, document)
        return list(cached(schema, _QueryText(query, document)))

    validator.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return validator


class _QueryText(str):
    """A query text carrying its parsed document, hashed and compared as the text: the
    document is a pure function of the text (same parse options), so the text is the key and
    the document rides along only to be validated on a miss."""

    document: Any

    def __new__(cls, text: str, document: Any) -> _QueryText:
        made = super().__new__(cls, text)
        made.document = document
        return made


class CachedValidation(SchemaExtension):
    """Runs the schema's one validator (limits included) instead of strawberry's."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.pre_execution_errors = self.validator(ctx.schema._schema, ctx.graphql_document,
                                                  ctx.query)
        yield


def limit_error_extensions(error: GraphQLError) -> dict[str, Any] | None:
    """LIMIT_EXCEEDED extensions for the parser's token-limit error; None for any other."""
    found = TOKENS_MESSAGE.search(error.message)
    if found and error.original_error is None:
        return limit_extensions("maxTokens", int(found.group(1)))
    return None


def strip_suggestions(message: str) -> str:
    return SUGGESTION.sub("", message)
