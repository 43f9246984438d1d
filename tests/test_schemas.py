"""prs_search/schemas.py and field_types.py on their own: the limits they share with the SQL columns, and
their validators (and the request's patterns and numbers, from search_request.py).

The store, the API and the CLI test these types through their own doors; here each rule is asserted once,
where it is defined.
"""

import math
import re
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import String

from prs_search.errors import ConfigError
from prs_search.field_types import DATASET_LENGTH, JsonObject, Measured, SearchStatus, as_id
from prs_search.schemas import (
    BestScheduleRecord,
    ConfirmationRunRecord,
    DriverRecord,
    EpochRecord,
    EpochValues,
    SearchRecord,
    StudyRunRecord,
    TrialRecord,
)
from prs_search.search_request import DATASET_PATTERN, SearchRequest, check_name, default_search_name
from prs_search.store import models

# The record each table is read into. DatasetVersion has none: its key is a dataset a best schedule names.
RECORDS: dict[type[models.Base], type[BaseModel]] = {
    models.Search: SearchRecord,
    models.Trial: TrialRecord,
    models.EpochMetric: EpochRecord,
    models.BestSchedule: BestScheduleRecord,
    models.StudyRun: StudyRunRecord,
    models.ConfirmationRun: ConfirmationRunRecord,
    models.DriverLease: DriverRecord,
    models.DatasetVersion: BestScheduleRecord,
}


def _string_columns() -> list[tuple[str, str, int]]:
    """(table model, column, length) for every String(n) column of the store."""
    return sorted(
        (mapper.class_.__name__, column.key, column.type.length)
        for mapper in models.Base.registry.mappers
        for column in mapper.columns
        if isinstance(column.type, String) and column.type.length is not None
    )


def _string_schemas(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The string alternatives of a field's JSON schema (`None` allowed or not), enums resolved."""
    if "$ref" in schema:
        return _string_schemas(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        return [s for option in schema["anyOf"] for s in _string_schemas(option, defs)]
    return [schema] if schema.get("type") == "string" else []


def test_every_table_is_read_into_a_record() -> None:
    assert {mapper.class_ for mapper in models.Base.registry.mappers} == set(RECORDS)


@pytest.mark.parametrize(("table", "column", "length"), _string_columns())
def test_a_string_limit_is_its_columns_length(table: str, column: str, length: int) -> None:
    """A value the schema admits fits its column, and the schema refuses nothing the column could hold."""
    record = RECORDS[getattr(models, table)]
    schema = record.model_json_schema(by_alias=True)
    field = schema["properties"].get(column)
    assert field is not None, f"{table}.{column} has no field in {record.__name__}"
    strings = _string_schemas(field, schema.get("$defs", {}))
    assert strings, f"{record.__name__}.{column} is not a string"
    for string in strings:
        if "enum" in string:  # a closed set of values (a status, a state): each fits
            assert max(len(value) for value in string["enum"]) <= length
        else:
            assert string.get("maxLength") == length, f"{record.__name__}.{column}: {string}"


def test_the_dataset_pattern_allows_names_as_long_as_the_column() -> None:
    longest_folder = "imagefolder:" + "d" * (DATASET_LENGTH - len("imagefolder:"))
    for name in ("c" * DATASET_LENGTH, longest_folder):
        assert re.fullmatch(DATASET_PATTERN, name)
        assert not re.fullmatch(DATASET_PATTERN, name + "x")


# -- ids and names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "expected"), [("12", 12), (" 7 ", 7), ("007", 7), ("0", 0)])
def test_as_id_reads_ascii_digits(key: str, expected: int) -> None:
    assert as_id(key) == expected


# Not ids: names, signs, decimals, and digits that are not ASCII (str.isdigit alone admits "²" and "١٢").
@pytest.mark.parametrize("key", ["", " ", "run-1", "1a", "-3", "+3", "1.0", "1 2", "²", "١٢"])
def test_as_id_leaves_everything_else_a_name(key: str) -> None:
    assert as_id(key) is None


@pytest.mark.parametrize("name", [" 12 ", "12", "my search", "x/y", "x" * 201])
def test_a_new_name_is_a_safe_file_name_that_does_not_read_as_an_id(name: str) -> None:
    """One rule for a new search's (CLI, API) and a study's name: the request's pattern and `check_name`."""
    with pytest.raises(ValidationError, match="name"):
        SearchRequest(dataset="digits", budget=1, name=name)
    with pytest.raises(ConfigError, match="a name is letters|must not be all digits"):
        check_name(name)


@pytest.mark.parametrize("name", ["run-12", "12b", "cifar10-small-dense", "x" * 200])
def test_names_that_follow_the_rule_pass_both_checks(name: str) -> None:
    assert SearchRequest(dataset="digits", budget=1, name=name).name == name
    check_name(name)


# -- the request's numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["budget", "epochs", "num_samples", "seed", "reduction_factor", "confirm_top"])
def test_a_whole_float_is_an_integer(field: str) -> None:
    value = getattr(SearchRequest(dataset="digits", **{"budget": 3, field: 3.0}), field)
    assert value == 3
    assert type(value) is int


@pytest.mark.parametrize("value", [3.5, True, "3", None])
def test_other_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        SearchRequest(dataset="digits", budget=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0.5", True, math.nan, math.inf])
def test_a_fraction_is_a_finite_number(value: object) -> None:
    with pytest.raises(ValidationError):
        SearchRequest(dataset="digits", budget=1, fraction=value)  # type: ignore[arg-type]


def test_a_flag_is_a_boolean() -> None:
    with pytest.raises(ValidationError):
        SearchRequest(dataset="digits", budget=1, compile="true")  # type: ignore[arg-type]


def test_the_bounds_stay_plain_in_the_json_schema() -> None:
    """The whole-number validator comes after the bounds, so clients see an integer with its range."""
    budget = SearchRequest.model_json_schema()["properties"]["budget"]
    assert (budget["type"], budget["minimum"], budget["maximum"]) == ("integer", 1, 100_000)


def test_fraction_and_num_samples_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="either fraction or num_samples"):
        SearchRequest(dataset="digits", budget=1, fraction=0.5, num_samples=100)


# -- measurements and JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(0.25, 0.25), (None, None), (math.nan, None), (math.inf, None), (-math.inf, None)]
)
def test_a_measurement_that_is_not_finite_is_missing(value: float | None, expected: float | None) -> None:
    assert TypeAdapter(Measured).validate_python(value) == expected


def test_an_epochs_accuracy_must_be_finite_but_its_loss_may_diverge() -> None:
    assert EpochValues(val_acc=0.5, val_loss=math.nan, train_loss=math.inf).val_loss is None
    with pytest.raises(ValidationError):
        EpochValues(val_acc=math.nan)


def test_json_objects_become_plain_json() -> None:
    value = {
        "nan": math.nan,
        "inf": -math.inf,
        "scalar": np.float32(0.5),
        "array": np.arange(3),
        "set": {3, 1},
        "nested": {"deep": [math.nan, np.int64(2)]},
    }
    plain = TypeAdapter(JsonObject).validate_python(value)
    expected = {
        "nan": None,
        "inf": None,
        "scalar": 0.5,
        "array": [0, 1, 2],
        "set": [1, 3],
        "nested": {"deep": [None, 2]},
    }
    assert plain == expected
    assert type(plain["scalar"]) is float


def test_a_value_json_cannot_hold_is_refused_with_its_type() -> None:
    with pytest.raises(ValidationError, match="not JSON serialisable: .*object"):
        TypeAdapter(JsonObject).validate_python({"thing": object()})


def test_a_json_object_is_a_mapping() -> None:
    with pytest.raises(ValidationError, match="dict"):
        TypeAdapter(JsonObject).validate_python([1, 2])


# -- statuses and records ---------------------------------------------------------------------------


def test_an_interrupted_search_is_final_but_not_closed() -> None:
    assert {s for s in SearchStatus if s.is_final} == set(SearchStatus) - {SearchStatus.PENDING, SearchStatus.RUNNING}
    assert {s for s in SearchStatus if s.is_final and not s.is_closed} == {SearchStatus.INTERRUPTED}


def test_records_are_frozen() -> None:
    values = EpochValues(val_acc=0.5)
    with pytest.raises(ValidationError, match="frozen"):
        values.val_acc = 0.6  # type: ignore[misc]


@pytest.mark.parametrize(
    ("dataset", "space", "size"),
    [("digits", "monotone", {}), ("imagefolder:/srv/my images/ä/flowers", "/x/my space.yaml", {"fraction": 0.1}),
     ("imagefolder:/data/123", "free", {"num_samples": 500})],
)  # fmt: skip
def test_a_default_name_follows_the_name_rule_and_names_the_size(
    dataset: str, space: str, size: dict[str, Any]
) -> None:
    request = SearchRequest(dataset=dataset, budget=1, space=space, **size)
    name = default_search_name(request)
    check_name(name)
    assert f"-{request.size_label}-" in name and name != default_search_name(request)  # random suffix: unique
