"""The Fourier maths on constructed feature maps whose spectrum is known."""

import math
from pathlib import Path

import pytest
import torch

from prs_search.analysis.fourier import (
    EPS,
    FourierProfile,
    diagonal_frequencies,
    diagonal_log_amplitude,
    relative,
)
from prs_search.errors import ConfigError

H = 8


def grid(size: int = H) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")


def maps_of(image: torch.Tensor, batch: int = 2, channels: int = 3) -> torch.Tensor:
    return image.expand(batch, channels, *image.shape).clone()


def delta(maps: torch.Tensor) -> torch.Tensor:
    return relative(diagonal_log_amplitude(maps).mean(dim=0))


def test_frequencies_run_from_zero_to_pi() -> None:
    assert diagonal_frequencies(8).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert diagonal_frequencies(7).tolist() == pytest.approx([0.0, 2 / 7, 4 / 7, 6 / 7])


def test_shape_and_zero_at_frequency_zero() -> None:
    maps = torch.randn(5, 6, H, H, generator=torch.Generator().manual_seed(0))
    amplitude = diagonal_log_amplitude(maps)
    assert amplitude.shape == (5, H // 2 + 1)
    assert delta(maps)[0] == 0.0
    assert diagonal_log_amplitude(torch.randn(2, 3, 7, 7)).shape == (2, 4)


def test_constant_map_has_no_high_frequencies() -> None:
    result = delta(maps_of(torch.full((H, H), 3.0)))
    # |F(0)| = 3 * 64, every other frequency is empty: log(EPS) - log(192) ~ -19.
    assert result[-1].item() == pytest.approx(math.log(EPS) - math.log(3.0 * H * H), abs=0.5)
    assert (result[1:] < -10).all()


def test_low_frequency_map_falls_off_towards_pi() -> None:
    y, x = grid()
    image = 2.0 + torch.cos(2 * math.pi * (x + y) / H)  # energy at frequencies 0 and (pi/4, pi/4) only
    result = delta(maps_of(image))
    # |F(1,1)| = 64 / 2 = 32 against |F(0)| = 128: log(1/4) above frequency 0, and nothing at pi.
    assert result[1].item() == pytest.approx(math.log(0.25), abs=1e-4)
    assert result[-1].item() < -10


def test_checkerboard_has_its_energy_at_pi() -> None:
    y, x = grid()
    image = (-1.0) ** (x + y)  # zero mean: no energy at frequency 0
    result = delta(maps_of(image))
    assert result[-1].item() > 10
    assert result[-1].item() == pytest.approx(math.log(H * H) - math.log(EPS), abs=0.5)


def test_linearity_constant_plus_checkerboard_of_equal_size() -> None:
    """The FFT is linear: a constant c plus a checkerboard of amplitude c has |F(0)| = |F(pi, pi)| = 64 c."""
    y, x = grid()
    for c in (0.5, 4.0):
        result = delta(maps_of(c + c * (-1.0) ** (x + y)))
        assert result[-1].item() == pytest.approx(0.0, abs=1e-5)


def test_scaling_a_map_changes_nothing() -> None:
    maps = torch.randn(4, 5, H, H, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(delta(7.5 * maps), delta(maps), atol=1e-4, rtol=0)


def test_channel_mean_of_log_amplitudes() -> None:
    y, x = grid()
    constant, board = torch.ones(H, H), (-1.0) ** (x + y)
    maps = torch.stack([constant, board]).expand(1, 2, H, H)
    amplitude = diagonal_log_amplitude(maps)[0]
    single = (diagonal_log_amplitude(maps_of(constant, 1, 1))[0] + diagonal_log_amplitude(maps_of(board, 1, 1))[0]) / 2
    torch.testing.assert_close(amplitude, single)


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (3, 8, 8)])
def test_non_square_or_unbatched_maps_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="square grid"):
        diagonal_log_amplitude(torch.zeros(shape))


def test_profile_rows_and_csv(tmp_path: Path) -> None:
    profile = FourierProfile(
        attention=(False, True), frequencies=(0.0, 0.5, 1.0), delta=((0.0, -1.0, -2.0), (0.0, 0.5, 1.5)), images=3
    )
    assert profile.modes() == ("conv", "attention")
    assert profile.high_frequency() == (-2.0, 1.5)
    assert profile.rows()[3:] == [(2, "attention", 0.0, 0.0), (2, "attention", 0.5, 0.5), (2, "attention", 1.0, 1.5)]
    path = tmp_path / "f.csv"
    profile.write_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "layer,mode,frequency,delta_log_amplitude"
    assert lines[1:] == [
        "1,conv,0.0000,0.000000", "1,conv,0.5000,-1.000000", "1,conv,1.0000,-2.000000",
        "2,attention,0.0000,0.000000", "2,attention,0.5000,0.500000", "2,attention,1.0000,1.500000",
    ]  # fmt: skip
