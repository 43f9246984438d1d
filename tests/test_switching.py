"""`ScheduleCallback` is how a schedule is applied in a training loop: `prs-search train` trains with it, a
plain PyTorch loop with it switches the same layers at the same epochs and ramps them the same way, and
the README's example runs as written."""

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from prs_search.data import Splits, load_dataset, make_splits
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.switching import ScheduleCallback
from prs_search.train import build_model, train

README = Path(__file__).resolve().parents[1] / "README.md"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    """320 digits (256 train: 8 steps per epoch at batch 32)."""
    return make_splits(load_dataset("digits", tmp_path_factory.mktemp("data")), num_samples=320, seed=0)


def test_a_plain_loop_switches_and_ramps_as_train_does(small: Splits) -> None:
    config = TrainConfig(model="tiny", epochs=4, batch_size=32, ramp_epochs=1.0, min_ramp_steps=0)
    schedule = Schedule.of([3, 2, 1, 1], epochs=4)
    result, _ = train(config, small, schedule, device=CPU)

    model = build_model(config, small)
    loader = DataLoader(TensorDataset(small.train.x.float() / 255, small.train.y), batch_size=32, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    switches = ScheduleCallback(model, schedule, len(loader), ramp_epochs=1.0, min_ramp_steps=0)
    switched, modes = [], []
    for epoch in range(schedule.epochs):
        switched.append(switches.on_epoch_start(epoch))
        for x, y in loader:
            switches.on_step()
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        modes.append(model.layer_modes())
    assert switched == [e.switched for e in result.history] == [(), (2, 3), (1,), (0,)]
    assert modes == [tuple(layer.mode for layer in e.layers) for e in result.history]
    assert modes[1] == ("conv", "conv", "attention", "attention")  # a one-epoch ramp ends with its epoch


def test_the_readme_example_runs_and_ends_in_attention() -> None:
    block = re.search(r"<!-- own-loop -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "the README's own-loop example is gone"
    code = block.group(1)
    assert len([line for line in code.splitlines() if line and not line.startswith(("import", "from"))]) < 15
    torch.manual_seed(0)
    loader = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(2)]
    scope: dict[str, object] = {"loader": loader}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - the project's own README
    model = scope["model"]
    assert model.layer_modes() == ("attention",) * 6  # type: ignore[attr-defined]
    assert scope["switches"].schedule.switch_epochs == (5, 4, 3, 1, 0, 0)  # type: ignore[attr-defined]
