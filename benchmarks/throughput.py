"""Train-step throughput and model FLOPs utilisation of each preset, beside a plain CNN block and timm's ViT.

    python benchmarks/throughput.py                          # every preset, batch 256 (GPU) / 64 (CPU)
    python benchmarks/throughput.py --presets cifar_s --batch-size 512 --compile --variants dense

For every preset, in one run with the same shapes (the models take turns, so a slow phase hits all alike):
* our model with each conv variant (`--variants`, default both): `shift` in conv mode, attention mode and a
  PRS mixture (the later half of the layers attention, as a PRS schedule has it part-way through a trial);
  `dense` in conv mode and attention mode;
* "Conv2d block": our model with every mixer replaced by one `nn.Conv2d(dim, dim, 3, padding=1)` on the
  token grid (the same pre-norm blocks, MLP, stem and head): the CNN layer that dense conv mode should cost;
* "timm ViT": timm's `VisionTransformer` with the same depth, width, heads (9), MLP ratio and token grid
  (8x8 patches, no class token, mean pool).
Every row's images/s is given relative to both references ("vs timm", "vs Conv2d"). Goals: dense conv >= 0.9x
the Conv2d block, shift attention >= 0.95x timm's ViT; dense attention is reported against both.
A train step is forward + backward + AdamW on a batch already on the device (bf16 autocast on CUDA).
FLOPs are counted by `torch.utils.flop_counter` on one step, through `prs_search.step_flops.flop_counter`
(matmuls, convolutions and attention as its two products, as MFU counts them); MFU = achieved FLOP/s / the
device's dense bf16 peak (`--peak-tflops`, known for H100/H200; not reported on the CPU, where no meaningful
peak is at hand).
"""

import argparse
import copy
import statistics
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from prs_search.model import HybridViT, create_model
from prs_search.recipe import ConvVariant
from prs_search.step_flops import flop_counter
from prs_search.train import autocast, compile_blocks, default_device

PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4}  # dense, SXM, from NVIDIA's data sheets
IMG_SIZE, CHANNELS, CLASSES = 32, 3, 100  # CIFAR-100
CONV2D, TIMM = "Conv2d block", "timm ViT"  # the references' modes
# Our modes per conv variant. The PRS mix of `shift` only: a mix runs between its variant's two ends, and
# every model measured costs a turn in each round.
MODES: dict[ConvVariant, tuple[str, ...]] = {"shift": ("conv", "attention", "prs mix"), "dense": ("conv", "attention")}
# (variant, mode, reference, least images/s relative to the reference)
GOALS: tuple[tuple[ConvVariant, str, str, float], ...] = (
    ("dense", "conv", CONV2D, 0.9),
    ("shift", "attention", TIMM, 0.95),
)


@dataclass(frozen=True)
class Throughput:
    """One model's train-step speed: median images/s, spread (max - min) / median, FLOPs per image, and
    images/s relative to timm's ViT and to the Conv2d-block model of the same shapes measured in the same run."""

    preset: str
    conv: ConvVariant | None  # our model's conv variant; None for the references
    mode: str
    images_per_s: float
    spread: float
    flops_per_image: float
    vs_timm: float
    vs_conv2d: float

    @property
    def label(self) -> str:
        return f"{self.conv} {self.mode}" if self.conv else self.mode

    @property
    def tflops(self) -> float:
        return self.images_per_s * self.flops_per_image / 1e12

    def mfu(self, peak_tflops: float | None) -> float | None:
        return self.tflops / peak_tflops if peak_tflops else None


class GridConv2d(nn.Module):
    """A plain `nn.Conv2d(dim, dim, k, padding=k // 2)` as a token mixer: (B, N, C) tokens -> grid -> tokens."""

    def __init__(self, dim: int, grid_size: tuple[int, int], kernel_size: int = 3) -> None:
        super().__init__()
        self.grid_size = grid_size
        self.conv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        return self.conv(x.transpose(1, 2).reshape(b, c, *self.grid_size)).flatten(2).transpose(1, 2)


def device_peak(device: torch.device, override: float | None) -> float | None:
    if override is not None or device.type != "cuda":
        return override
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def timm_twin(model: HybridViT) -> VisionTransformer:
    """timm's plain ViT with our model's depth, width, heads, MLP ratio and token grid."""
    mlp_ratio = model.blocks[0].mlp.fc1.out_features / model.embed_dim
    return VisionTransformer(
        img_size=IMG_SIZE, patch_size=IMG_SIZE // model.grid_size[0], in_chans=CHANNELS, num_classes=CLASSES,
        embed_dim=model.embed_dim, depth=model.depth, num_heads=9, mlp_ratio=mlp_ratio, class_token=False,
        global_pool="avg",
    )  # fmt: skip


def conv2d_twin(model: HybridViT) -> HybridViT:
    """Our model with every mixer a `GridConv2d`: the same blocks, MLP, stem and head around a CNN layer."""
    twin = copy.deepcopy(model)
    for block in twin.blocks:
        block.mixer = GridConv2d(model.embed_dim, model.grid_size)
    return twin


def train_step(model: nn.Module, device: torch.device, batch: int) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    x = torch.randn(batch, CHANNELS, IMG_SIZE, IMG_SIZE, device=device)
    y = torch.randint(0, CLASSES, (batch,), device=device)

    def step() -> None:
        with autocast(device):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def timed(step: Callable[[], None], device: torch.device, steps: int) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(
    models: Sequence[nn.Module], device: torch.device, batch: int, steps: int, rounds: int
) -> list[tuple[float, float, float]]:
    """Per model: (median images/s, spread (max - min) / median, FLOPs per image).

    The models take turns, `rounds` times, so a slow phase of the machine hits all of them alike;
    warm-up steps (and compilation) are not timed.
    """
    step_fns, flops = [], []
    for model in models:
        model.to(device).train()
        step = train_step(model, device, batch)
        for _ in range(3):
            step()
        with flop_counter() as counter:  # attention counted as its products (the fused kernels count 0 or more)
            step()
        step_fns.append(step)
        flops.append(counter.get_total_flops() / batch)
    rates: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for i, step in enumerate(step_fns):
            rates[i].append(steps * batch / timed(step, device, steps))
    out = []
    for r, f in zip(rates, flops, strict=True):
        median = statistics.median(r)
        out.append((median, (max(r) - min(r)) / median, f))
    return out


def variants(
    preset: str, compile_models: bool, stem: str, convs: Sequence[ConvVariant]
) -> list[tuple[ConvVariant | None, str, nn.Module]]:
    """(conv variant, mode, model): ours in each variant's `MODES`, then the Conv2d-block model and timm's ViT."""
    settings = dict(img_size=IMG_SIZE, in_chans=CHANNELS, num_classes=CLASSES, stem=stem)
    out: list[tuple[ConvVariant | None, str, nn.Module]] = []
    for conv in convs:
        for mode in MODES[conv]:
            model = create_model(preset, conv=conv, **settings)
            attention_layers = {"conv": 0, "attention": model.depth}.get(mode, model.depth // 2)
            flags = [i >= model.depth - attention_layers for i in range(model.depth)]  # later layers switch first
            model.set_attention_layers(flags)
            if compile_models:
                compile_blocks(model)
            out.append((conv, mode, model))
    base = create_model(preset, **settings)  # uncompiled: the twins copy its shapes
    conv2d, vit = conv2d_twin(base), timm_twin(base)
    if compile_models:
        compile_blocks(conv2d)
        vit.compile()
    return out + [(None, CONV2D, conv2d), (None, TIMM, vit)]


def preset_throughput(
    preset: str,
    device: torch.device,
    batch: int,
    steps: int,
    rounds: int,
    compile_models: bool,
    stem: str = "patch",
    convs: Sequence[ConvVariant] = tuple(MODES),
) -> list[Throughput]:
    """Our model in each conv variant's modes, the Conv2d-block model and timm's ViT of `preset`, in one run."""
    models = variants(preset, compile_models, stem, convs)
    rows = measure([model for *_, model in models], device, batch, steps, rounds)
    rate = {mode: r for (conv, mode, _), (r, _, _) in zip(models, rows, strict=True) if conv is None}
    return [
        Throughput(preset, conv, mode, r, spread, flops, r / rate[TIMM], r / rate[CONV2D])
        for (conv, mode, _), (r, spread, flops) in zip(models, rows, strict=True)
    ]


def goal_report(rows: Sequence[Throughput]) -> str:
    """The goals' ratios among `rows` (those whose variant was measured), each marked met or missed."""
    rate = {(row.conv, row.mode): row.images_per_s for row in rows}
    parts = []
    for conv, mode, reference, goal in GOALS:
        if (conv, mode) in rate:
            ratio = rate[conv, mode] / rate[None, reference]
            verdict = "met" if ratio >= goal else "missed"
            parts.append(f"{conv} {mode} / {reference} {ratio:.2f}x (goal >= {goal}x, {verdict})")
    return "; ".join(parts)


def parse_convs(text: str) -> tuple[ConvVariant, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in MODES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown conv variants {unknown}; choose from {', '.join(MODES)}")
    return typing.cast(tuple[ConvVariant, ...], names)


def describe_device(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,small,cifar_s,cifar_m")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 64 on the CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round (default: 20 on CUDA, 3 on CPU)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing, models taking turns (median)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our blocks and the reference models")
    parser.add_argument(
        "--stem", default="patch", choices=("patch", "conv"),
        help="our model's stem (default patch, as the timm ViT has: the comparison isolates the blocks)",
    )  # fmt: skip
    convs_help = f"our model's conv variants, comma-separated (default {','.join(MODES)})"
    parser.add_argument("--variants", type=parse_convs, default=tuple(MODES), help=convs_help)
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak")
    args = parser.parse_args()
    device = default_device()
    cuda = device.type == "cuda"
    batch, steps = args.batch_size or (256 if cuda else 64), args.steps or (20 if cuda else 3)
    peak = device_peak(device, args.peak_tflops)
    print(
        f"device: {describe_device(device)}, torch {torch.__version__}, batch {batch}, {args.rounds} rounds x "
        f"{steps} steps, compile {args.compile}, stem {args.stem}"
    )
    header: tuple[tuple[str, int, str], ...] = (
        ("preset", 9, "<"),
        ("mode", 17, "<"),
        ("images/s", 10, ">"),
        ("spread", 8, ">"),
        ("GFLOP/img", 11, ">"),
    )
    header += ("TFLOP/s", 9, ">"), ("MFU", 7, ">"), ("vs timm", 9, ">"), ("vs Conv2d", 11, ">")
    print("".join(f"{text:{align}{width}}" for text, width, align in header))
    for preset in args.presets.split(","):
        rows = preset_throughput(preset, device, batch, steps, args.rounds, args.compile, args.stem, args.variants)
        for row in rows:
            mfu = row.mfu(peak)
            print(
                f"{preset:<9}{row.label:<17}{row.images_per_s:>10.0f}{100 * row.spread:>7.0f}%"
                f"{row.flops_per_image / 1e9:>11.3f}{row.tflops:>9.2f}{f'{100 * mfu:.1f}%' if mfu else 'n/a':>7}"
                f"{row.vs_timm:>8.2f}x{row.vs_conv2d:>10.2f}x"
            )
        print(f"{preset:<9}goals: {goal_report(rows)}")


if __name__ == "__main__":
    main()
