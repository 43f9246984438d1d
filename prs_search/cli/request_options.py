"""`prs-search run`'s search options, generated from `SearchRequest`'s fields: each option's name, type,
choices, default and help are the field's, so the CLI cannot drift from the REST API's body, and a field
added to the request is an option at once. Bounds are the request's to check (one message for both)."""

import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic.fields import FieldInfo

from prs_search.search_request import SearchRequest


def request_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per `SearchRequest` field, as typer reads them."""
    return [_parameter(name, field) for name, field in SearchRequest.model_fields.items()]


def with_request_options(command: Callable[..., None], others: list[inspect.Parameter]) -> Callable[..., None]:
    """`command(**options)` with a signature of the request's options and then `others` (typer builds
    the command's options from it)."""
    parameters = request_parameters() + others
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


def _parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    if not field.description:
        raise TypeError(f"SearchRequest.{name} has no description: it is `prs-search run --help`'s text")
    default = inspect.Parameter.empty if field.is_required() else field.default
    # typer parses the field's own type: a Literal as its choices, `X | None` as optional.
    annotation = Annotated[_plain(field.annotation), typer.Option(help=field.description)]  # type: ignore[valid-type]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _plain(annotation: Any) -> Any:
    """The type without its pydantic constraints, also inside `X | None` (typer would show them)."""
    if typing.get_origin(annotation) is Annotated:
        return _plain(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, map(_plain, typing.get_args(annotation)))
    return annotation
