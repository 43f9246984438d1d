"""The project's error types, and the one place where a pydantic `ValidationError` becomes a sentence.

Everything a user can cause (bad input, missing data, an unreachable database or cluster) is raised
as a `PRSError` with a message that says what went wrong and what to do; the CLI turns it into one
line and exit code 2, the API into a 4xx JSON body.
"""

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError, validate_call
from pydantic_core import ErrorDetails

F = TypeVar("F", bound=Callable[..., Any])


class PRSError(Exception):
    """Base class: a problem the user can fix, explained in one line."""


class ConfigError(PRSError, ValueError):
    """Invalid user input: an option, a schedule, a search space, a model preset."""


class ScheduleError(ConfigError):
    """A schedule that does not fit the model depth or the number of epochs."""


class DatasetError(PRSError):
    """An unknown dataset, or dataset files that are missing or malformed."""


class NotFoundError(PRSError):
    """Nothing to answer from: an unknown dataset, search or trial, or a dataset without a finished
    search (HTTP 404)."""


class StoreError(PRSError):
    """The results database cannot be reached or used."""


class ClusterError(PRSError):
    """The Ray cluster cannot be reached or used."""


class ConflictError(PRSError):
    """The request conflicts with what exists: a search name already taken, a search that another driver
    is running (HTTP 409)."""


class Label:
    """`Annotated` metadata: how error messages name a value whose field name says too little
    (pydantic ignores it; `checked` reads it)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Label({self.text!r})"


NOT_BLANK = r"\S"  # the pattern of the store's text types: some character that is not white space

# pydantic's error types, as the end of a sentence that starts with the value's name.
_SENTENCES = {
    "missing": "is required",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "greater_than": "must be > {gt}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "less_than": "must be < {lt}, got {input}",
    "finite_number": "must be finite, got {input}",
    "string_type": "must be a non-empty string, got {input!r}",
    "string_too_short": "must be a non-empty string, got {input!r}",
    "string_too_long": "is longer than {max_length} characters",
    "too_short": "must be a non-empty sequence, got {input!r}",
    "int_type": "must be an integer, got {input!r}",
    "int_parsing": "must be an integer, got {input!r}",
    "int_from_float": "must be an integer, got {input!r}",
    "float_type": "must be a number, got {input!r}",
    "float_parsing": "must be a number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "model_type": "must be a mapping, got {input!r}",
    "literal_error": "must be {expected}, got {input!r}",
}


def describe_errors(error: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """One line for every problem pydantic found, e.g. "num_samples must be >= 1, got 0"; a field is
    named by `labels` (field name -> label) where given, else by its name."""
    return "; ".join(_sentence(detail, labels or {}) for detail in error.errors())


def _sentence(detail: ErrorDetails, labels: Mapping[str, str]) -> str:
    where = _where(detail["loc"], labels)
    kind, context = detail["type"], {"input": detail.get("input"), **detail.get("ctx", {})}
    if kind == "string_pattern_mismatch":
        # The store's text types only refuse blank text; the request's patterns say more.
        text = "must be a non-empty string" if context["pattern"] == NOT_BLANK else "does not match {pattern}"
        return f"{where} {text.format(**context)}, got {context['input']!r}"
    if kind == "enum":
        return f"unknown {where} {context['input']!r}; expected one of {context['expected']}"
    if kind in ("value_error", "assertion_error"):
        message = detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {message}" if where else message
    if kind in _SENTENCES:
        return f"{where} {_SENTENCES[kind].format(**context)}".strip()
    return f"{where}: {detail['msg']}" if where else detail["msg"]


def _where(loc: tuple[int | str, ...], labels: Mapping[str, str]) -> str:
    if not loc:
        return ""
    head, *rest = loc
    text = labels.get(str(head), str(head))
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def checked(function: F) -> F:
    """`function` with its arguments validated against their annotations (the schema types of
    `prs_search.schemas`); invalid arguments raise `ConfigError` naming each one (by its `Label`, or
    its name). A call that does not fit the signature is a `TypeError`, as without the decorator; errors
    raised inside `function` pass through untouched."""
    validated = validate_call(function)
    signature = inspect.signature(function)
    labels = {name: label for name, hint in _hints(function).items() if (label := _label(hint)) is not None}

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        signature.bind(*args, **kwargs)  # a positional argument to a keyword-only method: TypeError
        try:
            return validated(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != function.__qualname__:  # not about the arguments: a record the function built
                raise
            raise ConfigError(describe_errors(exc, labels)) from None

    return typing.cast(F, call)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    names = inspect.signature(function).parameters
    return {k: v for k, v in typing.get_type_hints(function, include_extras=True).items() if k in names}


def _label(hint: Any) -> str | None:
    """The text of the first `Label` in an annotation, looking through `X | None` and nested types."""
    for arg in typing.get_args(hint):
        if isinstance(arg, Label):
            return arg.text
        if (found := _label(arg)) is not None:
            return found
    return None
