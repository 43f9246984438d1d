"""Counted training FLOPs of a convolution epoch against an attention epoch, and what counting costs.

    python benchmarks/flops.py                                   # tiny and small, CIFAR-shaped
    python benchmarks/flops.py --presets tiny,small,cifar_s --overhead-images 2000 --overhead-epochs 10

Per preset, on CIFAR-shaped input (32x32x3, 100 classes): the FLOPs of one training step per image
(forward and backward, `prs_search.step_flops`, as trials count them) with every layer a convolution, ramping
and attention, and what one epoch of CIFAR-100's 45,000 training images (its 50,000 less the 10% validation
split) costs in each. Then the cost model (`prs_search.compute_cost`) against those counts with the default
one-epoch ramps, and the overhead of counting in a short trial (synthetic CIFAR-shaped images, the PRS
default schedule, the default one-epoch ramps): counting adds one count per model state of a trial, on a CPU
copy, so the time to count the trial's states is set beside the trial's training time; its share shrinks as
the data grows.
"""

import argparse
import time

import torch

from prs_search.compute_cost import EpochCount, fit_cost_model, format_flops
from prs_search.data import make_splits, make_synthetic
from prs_search.model import HybridViT, create_model
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.step_flops import COUNT_BATCH, StepFlops, count_step
from prs_search.switching import ScheduleCallback
from prs_search.train import default_device, train

CIFAR_SHAPE = (3, 32, 32)
CIFAR100_TRAIN_IMAGES = 45_000  # 50,000 less the 10% validation split
MODES = ("conv", "ramp", "attention")


def cifar_model(preset: str) -> HybridViT:
    return create_model(preset, img_size=CIFAR_SHAPE[1], in_chans=CIFAR_SHAPE[0], num_classes=100)


def per_image(preset: str, mode: str) -> float:
    model = cifar_model(preset)
    for mixer in model.mixers:
        if mode != "conv":
            mixer.switch_to_attention(ramp_steps=1 if mode == "ramp" else 0)
    return count_step(model, CIFAR_SHAPE) / COUNT_BATCH


def print_counts(presets: list[str]) -> None:
    print(f"Training FLOPs (forward + backward), CIFAR-shaped input, one epoch = {CIFAR100_TRAIN_IMAGES:,} images")
    print("| preset | mode (all layers) | GFLOP / image / step | TFLOP / epoch | vs conv |")
    print("|---|---|---|---|---|")
    for preset in presets:
        counts = {mode: per_image(preset, mode) for mode in MODES}
        for mode, flops in counts.items():
            epoch = flops * CIFAR100_TRAIN_IMAGES
            print(f"| {preset} | {mode} | {flops / 1e9:.4f} | {epoch / 1e12:.1f} | {flops / counts['conv']:.2f}x |")


def replay(model: HybridViT, schedule: Schedule, steps: int, config: TrainConfig) -> list[list[tuple[str, ...]]]:
    """Per epoch, the model state of each training step, as a trial's switches and ramps make them (no training)."""
    switches = ScheduleCallback(
        model, schedule, steps, ramp_epochs=config.ramp_epochs, min_ramp_steps=config.min_ramp_steps
    )
    epochs = []
    for epoch in range(schedule.epochs):
        switches.on_epoch_start(epoch)
        states = []
        for _ in range(steps):
            switches.on_step()
            states.append(model.layer_modes())
        epochs.append(states)
    return epochs


def counted_epochs(counter: StepFlops, config: TrainConfig, schedule: Schedule, steps: int) -> list[EpochCount]:
    """The epochs of a trial of `schedule` as it would count them: the FLOPs of each step's state, summed."""
    per_epoch = replay(cifar_model(config.model), schedule, steps, config)
    return [
        EpochCount(sum(counter.per_image(state) for state in states) * config.batch_size,
                   sum(schedule.attention_at(epoch)), steps * config.batch_size)
        for epoch, states in enumerate(per_epoch)
    ]  # fmt: skip


def print_cost_model(presets: list[str], epochs: int) -> None:
    """The cost model (a + b x attention layers per image and epoch) against counts, with the default ramps:
    fitted on three schedules' epochs, predicting others'. Each step's state is replayed, not trained, so a
    100-epoch CIFAR-100 trial is counted in seconds, exactly as training it would count it."""
    print(f"\nCost model, default ramps, {epochs} epochs of {CIFAR100_TRAIN_IMAGES:,} images: fitted on all-conv, "
          "all-attention and prs")  # fmt: skip
    print("| preset | schedule | counted | predicted | error |")
    print("|---|---|---|---|---|")
    for preset in presets:
        config = TrainConfig(model=preset, epochs=epochs)
        counter = StepFlops(lambda preset=preset: cifar_model(preset), CIFAR_SHAPE)
        depth, steps = cifar_model(preset).depth, CIFAR100_TRAIN_IMAGES // config.batch_size
        fitted = [Schedule.all_conv(depth, epochs), Schedule.all_attention(depth, epochs), Schedule.prs(depth, epochs)]
        model = fit_cost_model(c for schedule in fitted for c in counted_epochs(counter, config, schedule, steps))
        held_out = [Schedule.linear(epochs, 0, depth, epochs), Schedule.uniform(epochs // 2, depth, epochs),
                    Schedule.linear(epochs // 10, epochs - 1, depth, epochs)]  # fmt: skip
        for schedule in held_out:
            truth = sum(c.flops for c in counted_epochs(counter, config, schedule, steps))
            predicted = model.predict(schedule.switch_epochs, epochs, steps * config.batch_size)
            error = predicted / truth - 1
            print(f"| {preset} | {schedule} | {format_flops(truth)} | {format_flops(predicted)} | {error:+.2%} |")


def print_overhead(presets: list[str], images: int, epochs: int) -> None:
    """What counting adds to a trial: the time to count each of its states once, beside the trial's own time
    without counting, both measured here (a difference of two trial times would drown in their noise)."""
    device = default_device()
    splits = make_splits(make_synthetic(num_train=images, num_test=100, num_classes=100), seed=0)
    print(f"\nOverhead of counting: {len(splits.train)} training images, {epochs} epochs, the PRS default "
          f"schedule, trained on {device.type}, counted on the CPU")  # fmt: skip
    print("| preset | states | s counting them | s training (not counted) | overhead |")
    print("|---|---|---|---|---|")
    for preset in presets:
        config = TrainConfig(model=preset, epochs=epochs)
        schedule = Schedule.prs(cifar_model(preset).depth, epochs)
        steps = len(splits.train) // config.batch_size
        states = dict.fromkeys(s for epoch in replay(cifar_model(preset), schedule, steps, config) for s in epoch)
        start = time.perf_counter()
        counter = StepFlops(lambda preset=preset: cifar_model(preset), CIFAR_SHAPE)
        for state in states:
            counter.per_image(state)
        counting = time.perf_counter() - start
        start = time.perf_counter()
        train(config, splits, schedule, device=device, count_flops=False)
        training = time.perf_counter() - start
        print(f"| {preset} | {len(states)} | {counting:.2f} | {training:.1f} | {counting / training:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--overhead-images", type=int, default=1000, help="synthetic images of the timed trials")
    parser.add_argument("--overhead-epochs", type=int, default=4)
    parser.add_argument("--model-epochs", type=int, default=100, help="epochs of the cost model's replayed trials")
    args = parser.parse_args()
    presets = args.presets.split(",")
    torch.manual_seed(0)
    print_counts(presets)
    print_cost_model(presets, args.model_epochs)
    print_overhead(presets, args.overhead_images, args.overhead_epochs)


if __name__ == "__main__":
    main()
