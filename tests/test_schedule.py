"""Schedule: validation with clear messages, the PRS linear family, parsing every form, switch semantics."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prs_search.errors import ConfigError, ScheduleError
from prs_search.schedule import Schedule

# --- validation ----------------------------------------------------------------------------------


def test_schedule_error_is_a_config_error() -> None:
    assert issubclass(ScheduleError, ConfigError)


@pytest.mark.parametrize("epochs", [0, -3])
def test_epochs_must_be_positive(epochs: int) -> None:
    with pytest.raises(ScheduleError, match=r"epochs must be a positive integer"):
        Schedule((0,), epochs)


@pytest.mark.parametrize("epochs", [2.0, "3", True])
def test_epochs_must_be_an_int(epochs: object) -> None:
    with pytest.raises(ScheduleError, match=r"epochs must be a positive integer"):
        Schedule((0,), epochs)  # type: ignore[arg-type]


def test_empty_schedule_is_rejected() -> None:
    with pytest.raises(ScheduleError, match=r"at least one layer"):
        Schedule((), 3)


@pytest.mark.parametrize("bad", [1.5, "2", True, None])
def test_switch_epoch_must_be_an_int(bad: object) -> None:
    with pytest.raises(ScheduleError, match=r"layer 2: switch epoch must be an integer"):
        Schedule((1, bad, 0), 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("epoch", "layer"), [(-1, 1), (4, 1), (100, 1)])
def test_switch_epoch_outside_range_names_layer_and_range(epoch: int, layer: int) -> None:
    with pytest.raises(ScheduleError, match=rf"layer {layer}: switch epoch {epoch} is outside \[0, 3\]"):
        Schedule((epoch, 0), 3)


def test_range_message_explains_the_endpoints() -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule((0, 0, 9), 5)
    message = str(info.value)
    assert "layer 3" in message
    assert "0 = attention from the start" in message
    assert "5 = convolution throughout" in message


def test_endpoints_zero_and_epochs_are_valid() -> None:
    s = Schedule((0, 5), 5)
    assert s.depth == 2 and s.epochs == 5


def test_check_depth_wrong_length() -> None:
    with pytest.raises(ScheduleError, match=r"has 3 switch epochs but the model has 4 layers"):
        Schedule((1, 1, 1), 3).check_depth(4)
    s = Schedule((1, 1, 1), 3)
    assert s.check_depth(3) is s


# --- the linear (PRS) family ---------------------------------------------------------------------


def test_linear_later_layers_switch_earlier() -> None:
    s = Schedule.linear(8, 0, depth=5, epochs=10)
    assert s.switch_epochs == (8, 6, 4, 2, 0)
    assert list(s.switch_epochs) == sorted(s.switch_epochs, reverse=True)


@pytest.mark.parametrize(
    ("first", "last", "depth", "epochs"), [(7, 1, 4, 7), (5, 0, 7, 10), (0, 9, 12, 9), (3, 3, 6, 3)]
)
def test_linear_endpoints_exact_and_monotone(first: int, last: int, depth: int, epochs: int) -> None:
    s = Schedule.linear(first, last, depth, epochs)
    assert s.depth == depth
    assert s.switch_epochs[0] == first and s.switch_epochs[-1] == last
    steps = [b - a for a, b in zip(s.switch_epochs, s.switch_epochs[1:], strict=False)]
    if last <= first:
        assert all(d <= 0 for d in steps)
    else:
        assert all(d >= 0 for d in steps)


def test_linear_depth_one_is_the_first_epoch() -> None:
    assert Schedule.linear(3, 0, depth=1, epochs=4).switch_epochs == (3,)


def test_linear_out_of_range_is_rejected() -> None:
    with pytest.raises(ScheduleError, match=r"outside \[0, 4\]"):
        Schedule.linear(5, 0, depth=3, epochs=4)


def test_prs_default_is_linear_from_half_to_zero() -> None:
    assert Schedule.prs(depth=4, epochs=10) == Schedule((5, 3, 2, 0), 10)
    assert Schedule.prs(depth=3, epochs=7).switch_epochs == (3, 2, 0)


def test_family_constructors() -> None:
    assert Schedule.all_conv(3, 4) == Schedule((4, 4, 4), 4)
    assert Schedule.all_attention(2, 4) == Schedule((0, 0), 4)
    assert Schedule.uniform(2, 3, 4) == Schedule((2, 2, 2), 4)
    assert Schedule.of([1, 0], 2) == Schedule((1, 0), 2)
    assert Schedule.all_conv(3, 4).conv_fraction() == 1.0
    assert Schedule.all_attention(3, 4).conv_fraction() == 0.0
    assert Schedule((4, 0), 4).conv_fraction() == 0.5


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6,5,3,0", (6, 5, 3, 0)),
        (" 6, 5 ,3,0 ", (6, 5, 3, 0)),
        ("linear:6,0", (6, 4, 2, 0)),
        ("LINEAR:0,6", (0, 2, 4, 6)),
        ("uniform:2", (2, 2, 2, 2)),
        ("prs", (3, 2, 1, 0)),
        ("all-conv", (6, 6, 6, 6)),
        ("all-attention", (0, 0, 0, 0)),
    ],
)
def test_parse_every_form(text: str, expected: tuple[int, ...]) -> None:
    s = Schedule.parse(text, depth=4, epochs=6)
    assert s == Schedule(expected, 6)


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "1,x,2,3", "linear:x", "linear:1,y", "uniform:", "prs:3", "all-conv:1", "fancy:1,2", "1;2;3;4"],
)
def test_parse_garbage_is_a_schedule_error(text: str) -> None:
    with pytest.raises(ScheduleError, match=r"cannot read schedule"):
        Schedule.parse(text, depth=4, epochs=6)


def test_parse_garbage_message_lists_the_forms() -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule.parse("nonsense", depth=4, epochs=6)
    for form in ("linear:FIRST,LAST", "uniform:E", "prs", "all-conv", "all-attention"):
        assert form in str(info.value)


@pytest.mark.parametrize(("text", "count"), [("linear:1", 2), ("linear:1,2,3", 2), ("uniform:1,2", 1)])
def test_parse_wrong_argument_count(text: str, count: int) -> None:
    with pytest.raises(ScheduleError, match=rf"needs {count} integer"):
        Schedule.parse(text, depth=4, epochs=6)


def test_parse_wrong_length_names_both_depths() -> None:
    with pytest.raises(ScheduleError, match=r"has 2 switch epochs but the model has 4 layers"):
        Schedule.parse("1,2", depth=4, epochs=6)


@pytest.mark.parametrize("text", ["7,0,0,0", "-1,0,0,0", "linear:7,0", "uniform:9"])
def test_parse_out_of_range(text: str) -> None:
    with pytest.raises(ScheduleError, match=r"outside \[0, 6\]"):
        Schedule.parse(text, depth=4, epochs=6)


# --- semantics -----------------------------------------------------------------------------------


def test_attention_at() -> None:
    s = Schedule((0, 2, 4), 4)  # attention from the start, switches at 2, convolution throughout
    assert [s.attention_at(e) for e in range(4)] == [
        (True, False, False),
        (True, False, False),
        (True, True, False),
        (True, True, False),
    ]


def test_all_conv_is_never_attention_and_all_attention_always() -> None:
    conv, attn = Schedule.all_conv(3, 5), Schedule.all_attention(3, 5)
    for epoch in range(5):
        assert conv.attention_at(epoch) == (False, False, False)
        assert attn.attention_at(epoch) == (True, True, True)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    epochs = draw(st.integers(1, 400))
    epochs_list = draw(st.lists(st.integers(0, epochs), min_size=1, max_size=16))
    return Schedule(tuple(epochs_list), epochs)


@given(schedules())
def test_str_round_trips_through_parse(s: Schedule) -> None:
    assert Schedule.parse(str(s), s.depth, s.epochs) == s


@given(schedules())
def test_each_layer_switches_exactly_once_or_never(s: Schedule) -> None:
    modes = [s.attention_at(epoch) for epoch in range(s.epochs)]
    for i, switch in enumerate(s.switch_epochs):
        # Convolution before its switch epoch, attention from it on (never, when it is E or later).
        assert [m[i] for m in modes] == [epoch >= switch for epoch in range(s.epochs)]
