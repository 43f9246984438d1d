"""The schedules the cross-size model ranks: every schedule of a small space, a fixed sample of a large one,
plus the observed ones and the PRS default."""

import math

from prs_search.schedule import Schedule
from prs_search.surrogate.candidates import SAMPLED, candidate_schedules


def is_monotone(s: tuple[int, ...]) -> bool:
    return all(a >= b for a, b in zip(s, s[1:], strict=False))


def test_small_spaces_are_enumerated() -> None:
    monotone = candidate_schedules(["monotone"], 4, 10)
    assert len(monotone) == len(set(monotone)) == math.comb(14, 4) and all(map(is_monotone, monotone))
    assert len(candidate_schedules(["free"], 4, 10)) == 11**4
    linear = candidate_schedules(["linear"], 4, 10)
    assert Schedule.linear(10, 0, 4, 10).switch_epochs in linear and all(map(is_monotone, linear))


def test_a_large_space_is_a_fixed_sample_with_the_observed_and_the_prs_default() -> None:
    observed = (300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    first = candidate_schedules(["monotone"], 12, 300, [observed])
    assert first == candidate_schedules(["monotone"], 12, 300, [observed])  # deterministic
    assert SAMPLED < len(first) <= SAMPLED + 2 and all(map(is_monotone, first))
    assert observed in first and Schedule.prs(12, 300).switch_epochs in first
    assert len({s[0] for s in first}) > 100  # spread over the space, not a corner of it


def test_the_union_of_spaces_has_each_schedule_once() -> None:
    both = candidate_schedules(["linear", "monotone"], 4, 10)
    assert len(both) == len(set(both)) == math.comb(14, 4)  # linear ones are monotone
