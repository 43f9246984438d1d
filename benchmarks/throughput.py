"""Train-step throughput and model FLOPs utilisation of each preset, beside timm's plain ViT.

    python benchmarks/throughput.py                          # every preset, batch 256 (GPU) / 64 (CPU)
    python benchmarks/throughput.py --presets cifar_s --batch-size 512 --compile

For every preset: conv mode, attention mode and a PRS mixture (the later half of the layers
attention, as a PRS schedule has it part-way through a trial), and timm's `VisionTransformer` with the same depth,
width, heads (9), MLP ratio and token grid (8x8 patches, no class token, mean pool) in the same run.
A train step is forward + backward + AdamW on a batch already on the device (bf16 autocast on CUDA).
FLOPs are counted by `torch.utils.flop_counter` on one step (matmuls, convolutions and attention, as
MFU counts them); MFU = achieved FLOP/s / the device's dense bf16 peak (`--peak-tflops`, known for
H100/H200; not reported on the CPU, where no meaningful peak is at hand).
"""

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from prs_search.model import HybridViT, create_model
from prs_search.train import autocast, compile_blocks, default_device

PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4}  # dense, SXM, from NVIDIA's data sheets
IMG_SIZE, CHANNELS, CLASSES = 32, 3, 100  # CIFAR-100


@dataclass(frozen=True)
class Throughput:
    """One model's train-step speed: median images/s, spread (max - min) / median, FLOPs per image, and
    images/s relative to timm's ViT of the same shapes measured in the same run."""

    preset: str
    mode: str
    images_per_s: float
    spread: float
    flops_per_image: float
    vs_timm: float

    @property
    def tflops(self) -> float:
        return self.images_per_s * self.flops_per_image / 1e12

    def mfu(self, peak_tflops: float | None) -> float | None:
        return self.tflops / peak_tflops if peak_tflops else None


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
    models: list[tuple[str, nn.Module]], device: torch.device, batch: int, steps: int, rounds: int
) -> list[tuple[str, float, float, float]]:
    """Per model: (name, median images/s, spread (max - min) / median, FLOPs per image).

    The models take turns, `rounds` times, so a slow phase of the machine hits all of them alike;
    warm-up steps (and compilation) are not timed.
    """
    step_fns, flops = [], []
    for _, model in models:
        model.to(device).train()
        step = train_step(model, device, batch)
        for _ in range(3):
            step()
        with FlopCounterMode(display=False) as counter:
            step()
        step_fns.append(step)
        flops.append(counter.get_total_flops() / batch)
    rates: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for i, step in enumerate(step_fns):
            rates[i].append(steps * batch / timed(step, device, steps))
    out = []
    for (name, _), r, f in zip(models, rates, flops, strict=True):
        median = statistics.median(r)
        out.append((name, median, (max(r) - min(r)) / median, f))
    return out


def variants(preset: str, compile_models: bool, stem: str) -> list[tuple[str, nn.Module]]:
    out: list[tuple[str, nn.Module]] = []
    for mode in ("conv", "attention", "prs mix"):
        model = create_model(preset, img_size=IMG_SIZE, in_chans=CHANNELS, num_classes=CLASSES, stem=stem)
        attention_layers = {"conv": 0, "attention": model.depth}.get(mode, model.depth // 2)
        flags = [i >= model.depth - attention_layers for i in range(model.depth)]  # later layers switch first
        model.set_attention_layers(flags)
        if compile_models:
            compile_blocks(model)
        out.append((mode, model))
    twin = timm_twin(out[0][1])  # type: ignore[arg-type]
    if compile_models:
        twin.compile()
    out.append(("timm ViT", twin))
    return out


def preset_throughput(
    preset: str, device: torch.device, batch: int, steps: int, rounds: int, compile_models: bool, stem: str = "patch"
) -> list[Throughput]:
    """Conv mode, attention mode, the PRS mix and timm's twin of `preset`, measured in one run."""
    rows = measure(variants(preset, compile_models, stem), device, batch, steps, rounds)
    timm_rate = rows[-1][1]
    return [Throughput(preset, mode, rate, spread, flops, rate / timm_rate) for mode, rate, spread, flops in rows]


def describe_device(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,cifar_s,cifar_m")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 64 on the CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round (default: 20 on CUDA, 3 on CPU)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing, models taking turns (median)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our blocks and the timm model")
    parser.add_argument(
        "--stem", default="patch", choices=("patch", "conv"),
        help="our model's stem (default patch, as the timm ViT has: the comparison isolates the blocks)",
    )  # fmt: skip
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
    header = (
        ("preset", 9, "<"),
        ("mode", 11, "<"),
        ("images/s", 10, ">"),
        ("spread", 8, ">"),
        ("GFLOP/img", 11, ">"),
    )
    header += ("TFLOP/s", 9, ">"), ("MFU", 7, ">"), ("vs timm", 9, ">")
    print("".join(f"{text:{align}{width}}" for text, width, align in header))
    for preset in args.presets.split(","):
        for row in preset_throughput(preset, device, batch, steps, args.rounds, args.compile, args.stem):
            mfu = row.mfu(peak)
            print(
                f"{preset:<9}{row.mode:<11}{row.images_per_s:>10.0f}{100 * row.spread:>7.0f}%"
                f"{row.flops_per_image / 1e9:>11.3f}{row.tflops:>9.2f}{f'{100 * mfu:.1f}%' if mfu else 'n/a':>7}"
                f"{row.vs_timm:>8.2f}x"
            )


if __name__ == "__main__":
    main()
