"""The schedules the cross-size model chooses among: those a search space can draw.

Every schedule of the space when there are at most `ENUMERATE_LIMIT` (monotone with 4 layers and 10 epochs
has C(14, 4) = 1001; free has 11^4 = 14,641), else `SAMPLED` drawn uniformly from it with a fixed seed;
to either set, the schedules already observed and the PRS default are added. The set, and so the answer,
depends only on the space, the shape and the observations: the same store gives the same answer.
"""

import itertools
import math
from collections.abc import Iterable, Iterator

import numpy as np

from prs_search.schedule import Schedule
from prs_search.search.spaces import ScheduleKind

ENUMERATE_LIMIT = 20_000
SAMPLED = 8_192
_SEED = 0


def candidate_schedules(
    kinds: Iterable[ScheduleKind], depth: int, epochs: int, observed: Iterable[tuple[int, ...]] = ()
) -> list[tuple[int, ...]]:
    """The schedules of the spaces `kinds` (their union), the `observed` ones and the PRS default, once each,
    in a fixed order."""
    found: dict[tuple[int, ...], None] = {}
    for kind in sorted(set(kinds)):
        found.update(dict.fromkeys(_of_space(kind, depth, epochs)))
    found.update(dict.fromkeys(tuple(s) for s in observed))
    found[Schedule.prs(depth, epochs).switch_epochs] = None
    return list(found)


def space_size(kind: ScheduleKind, depth: int, epochs: int) -> int:
    if kind == "free":
        return int((epochs + 1) ** depth)
    if kind == "monotone":  # non-increasing sequences: multisets of `depth` values out of E + 1
        return math.comb(epochs + depth, depth)
    return (epochs + 1) * (epochs + 2) // 2  # linear: pairs first >= last


def _of_space(kind: ScheduleKind, depth: int, epochs: int) -> Iterator[tuple[int, ...]]:
    if space_size(kind, depth, epochs) <= ENUMERATE_LIMIT:
        yield from _every(kind, depth, epochs)
        return
    rng = np.random.default_rng(_SEED)
    for _ in range(SAMPLED):
        yield _draw(rng, kind, depth, epochs)


def _every(kind: ScheduleKind, depth: int, epochs: int) -> Iterator[tuple[int, ...]]:
    values = range(epochs, -1, -1)
    if kind == "free":
        yield from itertools.product(values, repeat=depth)
    elif kind == "monotone":
        yield from itertools.combinations_with_replacement(values, depth)  # non-increasing, each once
    else:
        for first in range(epochs + 1):
            for last in range(first + 1):
                yield Schedule.linear(first, last, depth, epochs).switch_epochs


def _draw(rng: np.random.Generator, kind: ScheduleKind, depth: int, epochs: int) -> tuple[int, ...]:
    if kind == "free":
        return tuple(int(e) for e in rng.integers(0, epochs + 1, size=depth))
    if kind == "monotone":
        # Uniform over multisets (stars and bars): `depth` distinct positions of E + depth, minus their rank.
        positions = np.sort(rng.choice(epochs + depth, size=depth, replace=False))
        return tuple(sorted((int(p - i) for i, p in enumerate(positions)), reverse=True))
    first = int(rng.integers(0, epochs + 1))
    return Schedule.linear(first, int(rng.integers(0, first + 1)), depth, epochs).switch_epochs
