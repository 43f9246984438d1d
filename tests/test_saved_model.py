"""save_model / load_model: a round trip rebuilds the same function; anything else is a ConfigError."""

import pickle
import warnings
from pathlib import Path

import pytest
import torch

from prs_search.errors import ConfigError
from prs_search.model import HybridViT, create_model
from prs_search.saved_model import load_model, save_model

ARGS = {"img_size": 16, "in_chans": 3, "num_classes": 5, "stem": "patch"}


def trained_like_model() -> HybridViT:
    torch.manual_seed(0)
    model = create_model("tiny", **ARGS)
    assert isinstance(model, HybridViT)
    model.set_attention_layers([False, True, False, True])
    with torch.no_grad():  # move every parameter off its initial value, attention ones included
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_round_trip_rebuilds_modes_weights_and_logits(tmp_path: Path) -> None:
    model = trained_like_model()
    path = tmp_path / "nested" / "model.pt"
    save_model(path, model, "tiny", ARGS, {"dataset": "synthetic", "val_acc": 0.5})
    loaded, meta = load_model(path)
    assert meta == {"dataset": "synthetic", "val_acc": 0.5}
    assert not loaded.training
    assert loaded.attention_layers() == (False, True, False, True)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no checkpoint at .*absent\.pt"):
        load_model(tmp_path / "absent.pt")


@pytest.mark.parametrize(
    "content", [b"not a checkpoint\n", b"", b"PK\x03\x04garbage"], ids=["text", "empty", "broken-zip"]
)
def test_non_checkpoint_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"is not a prs-search model checkpoint"):
        load_model(path)


def test_a_plain_pickle_is_a_config_error_without_torchs_warning(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning here would print before the one error line
        with pytest.raises(ConfigError, match=r"is not a prs-search model checkpoint"):
            load_model(path)


@pytest.mark.parametrize(
    "payload",
    [{"weights": torch.zeros(3)}, torch.zeros(3), {"model_name": "tiny"}],
    ids=["other-dict", "tensor", "incomplete"],
)
def test_other_torch_files_are_config_errors(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(ConfigError, match=r"is not a prs-search model checkpoint"):
        load_model(path)


def test_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_model(tmp_path)
