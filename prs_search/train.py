"""One trial: train a hybrid ViT for E epochs, switching each layer to attention at its epoch.

`train(config, splits, schedule, on_epoch=...)` reads top to bottom and knows nothing about Ray, SQL or
HTTP: the search reports and checkpoints through `on_epoch`. Validation accuracy is measured every
epoch; the test split is touched only when `evaluate_test=True` (final reporting, never tuning). Every
epoch's training FLOPs are counted (`prs_search.step_flops`: the training steps, not the validation pass).
"""

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from prs_search.data import DeviceLoader, ImageData, Splits
from prs_search.model import HybridViT, model_for_shape
from prs_search.model.hybrid_vit import POSITION_PARAMS
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.step_flops import StepFlops
from prs_search.switching import ScheduleCallback

log = logging.getLogger(__name__)

Status = Literal["completed", "diverged"]
PROBE_IMAGES = 128  # validation images the per-layer statistics are measured on, every epoch


@dataclass(frozen=True)
class LayerStats:
    """What one layer computed at the end of an epoch, on a fixed probe of validation images.

    `attention_distance`: mean distance in tokens between a query and the keys it attends to, weighted
    by attention (the ViT papers' measure; a 3x3 convolution has 1.07). `tap_mass`: mean attention on
    the head's own convolution tap (1.0 = still the convolution). Both are None for a convolution.
    """

    mode: Literal["conv", "attention"]
    attention_distance: float | None = None
    tap_mass: float | None = None


@dataclass(frozen=True)
class EpochResult:
    """One epoch. `flops`: its training steps' FLOPs, forward and backward (`prs_search.step_flops`; the
    validation pass is not counted); None when not counted (counting off, or a checkpoint from before)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    attention_layers: int
    switched: tuple[int, ...]
    layers: tuple[LayerStats, ...] = ()
    flops: float | None = None


@dataclass(frozen=True)
class TrainResult:
    status: Status
    schedule: Schedule
    config: TrainConfig
    history: tuple[EpochResult, ...]
    test_acc: float | None = None
    error: str | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def val_acc(self) -> float:
        return self.history[-1].val_acc if self.history else 0.0

    @property
    def best_val_acc(self) -> float:
        return max((e.val_acc for e in self.history), default=0.0)

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.history)

    @property
    def flops(self) -> float | None:
        return total_flops(e.flops for e in self.history)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "schedule": list(self.schedule.switch_epochs),
            "epochs": self.schedule.epochs,
            "epochs_run": self.epochs_run,
            "val_acc": self.val_acc,
            "best_val_acc": self.best_val_acc,
            "test_acc": self.test_acc,
            "seconds": self.seconds,
            "flops": self.flops,
            "error": self.error,
            "layers": [asdict(layer) for layer in self.history[-1].layers] if self.history else [],
            "config": asdict(self.config),
            "history": [asdict(e) for e in self.history],
        }


def total_flops(per_epoch: Iterable[float | None]) -> float | None:
    """The sum of epochs' counted FLOPs; None when any epoch was not counted (a part is not the cost)."""
    counts = list(per_epoch)
    return None if not counts or None in counts else sum(c for c in counts if c is not None)


def epoch_result(fields: dict[str, Any]) -> EpochResult:
    """An `EpochResult` back from `asdict()` (a checkpoint's history, a reported result)."""
    layers = tuple(LayerStats(**layer) for layer in fields.get("layers", ()))
    return EpochResult(**{**fields, "switched": tuple(fields["switched"]), "layers": layers})


OnEpoch = Callable[[EpochResult, Callable[[], dict[str, Any]]], None]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(config: TrainConfig, splits: Splits) -> HybridViT:
    return model_for_shape(config, img_size=splits.img_size, in_chans=splits.in_chans, num_classes=splits.num_classes)


def compile_blocks(model: HybridViT) -> None:
    """`torch.compile` the stem and every block in place (parameter names and checkpoints unchanged).

    Per block, not the whole model: a block's graph depends on its own mode only, so a switch
    recompiles that block's variant once (blocks of one shape share their compiled code), whereas a
    whole-model graph would recompile at every switch of any layer and soon hit dynamo's cache limit.
    """
    model.stem.compile()
    for block in model.blocks:
        block.compile()


def make_optimizer(model: HybridViT, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; biases, norms and the position terms are not decayed (timm's convention), and the position
    terms learn at `position_lr_scale` x lr."""
    named = list(model.named_parameters())
    position = [p for n, p in named if n.endswith(POSITION_PARAMS)]
    others = [(n, p) for n, p in named if not n.endswith(POSITION_PARAMS)]
    groups = [
        {"params": [p for _, p in others if p.ndim > 1], "weight_decay": config.weight_decay},
        {"params": [p for _, p in others if p.ndim <= 1], "weight_decay": 0.0},
        {"params": position, "weight_decay": 0.0, "lr": config.peak_lr * config.position_lr_scale},
    ]
    return torch.optim.AdamW(groups, lr=config.peak_lr, fused=device.type == "cuda")


def probe_images(splits: Splits, device: torch.device, count: int = PROBE_IMAGES) -> torch.Tensor:
    """The first `count` validation images, normalised: the fixed probe of the per-layer statistics."""
    loader = DeviceLoader(splits.val, batch_size=count, device=device, mean=splits.mean, std=splits.std)
    return next(iter(loader))[0]


def layer_stats(model: HybridViT, probe: torch.Tensor) -> tuple[LayerStats, ...]:
    model.eval()
    return tuple(
        LayerStats("attention", *stats) if stats else LayerStats("conv") for stats in model.attention_probe(probe)
    )


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a no-op elsewhere (the one precision policy of training and benchmarks)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, splits: Splits, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on `data`, without augmentation."""
    model.eval()
    loader = DeviceLoader(data, batch_size=512, device=device, mean=splits.mean, std=splits.std, train=False)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in loader:
        with autocast(device):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
    return loss_sum.item() / len(data), correct.item() / len(data)


def train(
    config: TrainConfig,
    splits: Splits,
    schedule: Schedule,
    *,
    on_epoch: OnEpoch | None = None,
    resume: dict[str, Any] | None = None,
    evaluate_test: bool = False,
    device: torch.device | None = None,
    count_flops: bool = True,
) -> tuple[TrainResult, HybridViT]:
    """Train one trial. `resume` is a state from `on_epoch`'s second argument; returns (result, model).
    `count_flops=False` leaves every epoch's `flops` None; counting or not, the trial computes the same."""
    device = device or default_device()
    torch.manual_seed(config.seed)
    model = build_model(config, splits).to(device)
    schedule = schedule.check_depth(model.depth)
    if config.compile:
        compile_blocks(model)
    loader = DeviceLoader(
        splits.train, batch_size=config.batch_size, device=device, mean=splits.mean, std=splits.std,
        train=True, hflip=splits.hflip, pad=config.crop_padding, seed=config.seed,
    )  # fmt: skip
    optimizer = make_optimizer(model, config, device)
    steps = len(loader)
    lr_factor = warmup_cosine(config.epochs * steps, max(1, round(config.warmup_epochs * steps)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    history: list[EpochResult] = []
    if resume is not None:
        history = _restore(resume, model, optimizer, scheduler, loader, schedule)

    probe = probe_images(splits, device)
    image_shape = (splits.in_chans, splits.img_size, splits.img_size)
    step_flops = StepFlops(lambda: build_model(config, splits), image_shape) if count_flops else None
    switches = ScheduleCallback(
        model, schedule, steps, ramp_epochs=config.ramp_epochs, min_ramp_steps=config.min_ramp_steps
    )
    for epoch in range(len(history), config.epochs):
        start = time.perf_counter()
        switched = switches.on_epoch_start(epoch)
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen, flops = 0, 0.0
        for x, y in loader:
            switches.on_step()
            if step_flops is not None:  # the state this step trains in, counted once per trial
                flops += step_flops.per_image(model.layer_modes()) * len(y)
            with autocast(device):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            # Accumulated on the device: one host sync per epoch, not per step.
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            seen += len(y)
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss):
            log.warning("epoch %d: training loss is %s; the trial ends as diverged", epoch, train_loss)
            error = f"training loss became {train_loss} in epoch {epoch}"
            return TrainResult("diverged", schedule, config, tuple(history), error=error), model
        val_loss, val_acc = evaluate(model, splits.val, splits, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result = EpochResult(
            epoch=epoch, train_loss=train_loss, train_acc=correct.item() / seen, val_loss=val_loss,
            val_acc=val_acc, lr=float(scheduler.get_last_lr()[0]), seconds=time.perf_counter() - start,
            attention_layers=sum(model.attention_layers()), switched=switched, layers=layer_stats(model, probe),
            flops=flops if step_flops is not None else None,
        )  # fmt: skip
        history.append(result)
        if on_epoch is not None:
            on_epoch(result, lambda: _state(model, optimizer, scheduler, loader, history))

    test_acc = evaluate(model, splits.test, splits, device)[1] if evaluate_test else None
    return TrainResult("completed", schedule, config, tuple(history), test_acc=test_acc), model


def _state(
    model: HybridViT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loader: DeviceLoader,
    history: list[EpochResult],
) -> dict[str, Any]:
    """Everything needed to continue after the last finished epoch as if never interrupted.

    A deep copy: state dicts alias the live parameters and optimizer moments, which training would
    otherwise keep changing under a caller that holds on to the state.
    """
    return copy.deepcopy(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "loader": loader.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": [asdict(e) for e in history],
        }
    )


def _restore(
    state: dict[str, Any],
    model: HybridViT,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loader: DeviceLoader,
    schedule: Schedule,
) -> list[EpochResult]:
    history = [epoch_result(e) for e in state["history"]]
    # Layers that switched before the checkpoint must be attention before the weights are used.
    model.set_attention_layers(schedule.attention_at(len(history) - 1) if history else (False,) * model.depth)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    loader.load_state_dict(state["loader"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return history
