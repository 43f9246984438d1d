"""A schedule applied in a training loop, anyone's: at each epoch's start the layers whose switch epoch has
come become self-attention, blending from their convolution over about `ramp_epochs` of optimiser steps,
and each training step moves every blending layer one step along its ramp.

`prs_search.train` trains with it, so a recommended schedule (`prs-search recommend`, `GET
/v1/recommendation`) behaves the same in a user's own PyTorch loop as in the search (see the README).
"""

from prs_search.model import HybridViT
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule

_DEFAULTS = TrainConfig()


class ScheduleCallback:
    """Switch `model`'s layers as `schedule` says: call `on_epoch_start(epoch)` at the start of every epoch
    (0-based) and `on_step()` before every training forward. The optimiser must hold all of the model's
    parameters from the start: the attention side of each layer exists, and trains, from step one."""

    def __init__(
        self, model: HybridViT, schedule: Schedule, steps_per_epoch: int, *,
        ramp_epochs: float = _DEFAULTS.ramp_epochs, min_ramp_steps: int = _DEFAULTS.min_ramp_steps,
    ) -> None:  # fmt: skip
        self.model, self.schedule = model, schedule.check_depth(model.depth)
        self.steps_per_epoch, self.ramp_epochs, self.min_ramp_steps = steps_per_epoch, ramp_epochs, min_ramp_steps

    def on_epoch_start(self, epoch: int) -> tuple[int, ...]:
        """Switch the layers whose epoch has come; the indices of those that switched now."""
        steps_left = (self.schedule.epochs - epoch) * self.steps_per_epoch
        return tuple(self.model.set_attention_layers(self.schedule.attention_at(epoch), self.ramp_steps(steps_left)))

    def on_step(self) -> None:
        """One optimiser step along every blending layer's ramp: before the forward, so the first step after
        a switch already trains at beta > 0."""
        self.model.advance_ramps()

    def ramp_steps(self, steps_left: int) -> int:
        """Ramp length for a layer switching now: about `ramp_epochs` of steps, bounded by what is left."""
        if self.ramp_epochs == 0:
            return 0
        return min(max(self.min_ramp_steps, round(self.ramp_epochs * self.steps_per_epoch)), steps_left)
