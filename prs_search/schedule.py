"""Per-layer switch schedules: at which epoch each layer turns from convolution into self-attention.

A schedule is `(e_1, ..., e_L)` for a model of depth L trained for E epochs: layer l is a convolution
during epochs `[0, e_l)` and self-attention from epoch `e_l` on. `e_l = 0` means attention from the
start, `e_l = E` convolution throughout. The PRS paper's hand-designed family is linear in depth
with later layers switching earlier (`Schedule.linear`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from prs_search.errors import ScheduleError

SCHEDULE_FORMS = (
    "'E1,E2,...' (one epoch per layer), 'linear:FIRST,LAST', 'uniform:E', 'prs' (linear:E/2,0), "
    "'all-conv' or 'all-attention'"
)


@dataclass(frozen=True)
class Schedule:
    """Switch epochs, one per layer, validated against the number of training epochs."""

    switch_epochs: tuple[int, ...]
    epochs: int

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ScheduleError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not self.switch_epochs:
            raise ScheduleError("a schedule needs at least one layer")
        for layer, epoch in enumerate(self.switch_epochs, start=1):
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                raise ScheduleError(f"layer {layer}: switch epoch must be an integer, got {epoch!r}")
            if not 0 <= epoch <= self.epochs:
                raise ScheduleError(
                    f"layer {layer}: switch epoch {epoch} is outside [0, {self.epochs}] "
                    f"(0 = attention from the start, {self.epochs} = convolution throughout)"
                )

    @property
    def depth(self) -> int:
        return len(self.switch_epochs)

    def attention_at(self, epoch: int) -> tuple[bool, ...]:
        """Which layers are self-attention during `epoch` (0-based)."""
        return tuple(epoch >= e for e in self.switch_epochs)

    def conv_fraction(self) -> float:
        """Share of layer-epochs spent as convolution (1.0 = all-conv, 0.0 = all-attention)."""
        return sum(self.switch_epochs) / (self.depth * self.epochs)

    def check_depth(self, depth: int) -> "Schedule":
        if self.depth != depth:
            raise ScheduleError(f"the schedule has {self.depth} switch epochs but the model has {depth} layers")
        return self

    def __str__(self) -> str:
        return ",".join(str(e) for e in self.switch_epochs)

    @classmethod
    def of(cls, switch_epochs: Sequence[int], epochs: int) -> "Schedule":
        return cls(tuple(switch_epochs), epochs)

    @classmethod
    def all_conv(cls, depth: int, epochs: int) -> "Schedule":
        return cls((epochs,) * depth, epochs)

    @classmethod
    def all_attention(cls, depth: int, epochs: int) -> "Schedule":
        return cls((0,) * depth, epochs)

    @classmethod
    def uniform(cls, epoch: int, depth: int, epochs: int) -> "Schedule":
        return cls((epoch,) * depth, epochs)

    @classmethod
    def linear(cls, first: int, last: int, depth: int, epochs: int) -> "Schedule":
        """PRS's family: switch epochs linear in depth from layer 1's `first` to layer L's `last`.

        The paper's choice has `last <= first` (later layers switch earlier); the family itself
        allows either order so that a search can test the prior.
        """
        if depth == 1:
            return cls((first,), epochs)
        step = (last - first) / (depth - 1)
        return cls(tuple(round(first + step * i) for i in range(depth)), epochs)

    @classmethod
    def prs(cls, depth: int, epochs: int) -> "Schedule":
        """The default PRS schedule: linear from layer 1 at E/2 down to the last layer at 0."""
        return cls.linear(epochs // 2, 0, depth, epochs)

    @classmethod
    def parse(cls, text: str, depth: int, epochs: int) -> "Schedule":
        """Parse one of the forms in `SCHEDULE_FORMS` for a model of `depth` layers."""
        kind, _, args = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind == "prs" and not args:
            return cls.prs(depth, epochs)
        if kind in ("all-conv", "all-attention") and not args:
            return cls.all_conv(depth, epochs) if kind == "all-conv" else cls.all_attention(depth, epochs)
        if kind == "linear":
            first, last = _ints(args, count=2, text=text)
            return cls.linear(first, last, depth, epochs)
        if kind == "uniform":
            (epoch,) = _ints(args, count=1, text=text)
            return cls.uniform(epoch, depth, epochs)
        if not args:
            return cls.of(_ints(text, count=None, text=text), epochs).check_depth(depth)
        raise ScheduleError(f"cannot read schedule {text!r}: use {SCHEDULE_FORMS}")


def _ints(args: str, count: int | None, text: str) -> list[int]:
    try:
        values = [int(part) for part in args.split(",")]
    except ValueError:
        raise ScheduleError(f"cannot read schedule {text!r}: use {SCHEDULE_FORMS}") from None
    if count is not None and len(values) != count:
        raise ScheduleError(f"schedule {text!r} needs {count} integer(s) after the colon")
    return values
