"""The Fourier maths on constructed feature maps whose spectrum is known, in both readings."""

import math
from pathlib import Path

import pytest
import torch

from prs_search.analysis.fourier import (
    EPS,
    READINGS,
    FourierProfile,
    Reading,
    check_reading,
    diagonal_frequencies,
    diagonal_log_amplitude,
    relative,
)
from prs_search.errors import ConfigError

H = 8
EMPTY = math.log(EPS)  # the log amplitude of a frequency without any energy


def grid(size: int = H) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")


def maps_of(image: torch.Tensor, batch: int = 2, channels: int = 3) -> torch.Tensor:
    return image.expand(batch, channels, *image.shape).clone()


def delta(maps: torch.Tensor, reading: Reading) -> torch.Tensor:
    return relative(diagonal_log_amplitude(maps, reading).mean(dim=0))


def reference_park_kim(maps: torch.Tensor) -> torch.Tensor:
    """Park & Kim's published procedure, step by step: log(|FFT2| + 1e-6), shift by H/2, mean over images
    and channels, the diagonal from the centre on, minus its first value."""
    h = maps.shape[-1]
    f = (torch.fft.fft2(maps).abs() + 1e-6).log()
    f = torch.roll(f, shifts=(int(h / 2), int(h / 2)), dims=(2, 3)).mean(dim=(0, 1))
    diagonal = f.diag()[int(h / 2) :]
    return diagonal - diagonal[0]


def test_bins_and_labels_of_each_reading_for_h_8() -> None:
    labelled, true = diagonal_frequencies(H, "park-kim")
    assert labelled.tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])  # linspace(0, 1, H / 2)
    assert true.tolist() == [0.0, 0.25, 0.5, 0.75]  # its "1.0 pi" is the bin before Nyquist: (1 - 2/H) pi
    labelled, true = diagonal_frequencies(H, "nyquist")
    assert labelled.tolist() == true.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    maps = torch.randn(5, 6, H, H, generator=torch.Generator().manual_seed(0))
    assert diagonal_log_amplitude(maps, "park-kim").shape == (5, 4)
    assert diagonal_log_amplitude(maps, "nyquist").shape == (5, 5)


def test_odd_grid_has_no_nyquist_bin_and_both_readings_take_the_same_bins() -> None:
    maps = torch.randn(2, 3, 7, 7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(diagonal_log_amplitude(maps, "park-kim"), diagonal_log_amplitude(maps, "nyquist"))
    assert diagonal_frequencies(7, "nyquist")[0].tolist() == pytest.approx([0.0, 2 / 7, 4 / 7, 6 / 7])
    assert diagonal_frequencies(7, "park-kim")[0].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


@pytest.mark.parametrize("size", [8, 7])
def test_park_kim_reading_is_the_reference_procedure(size: int) -> None:
    maps = torch.randn(4, 5, size, size, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(delta(maps, "park-kim"), reference_park_kim(maps), atol=1e-5, rtol=0)


@pytest.mark.parametrize("reading", READINGS)
def test_zero_at_frequency_zero(reading: Reading) -> None:
    maps = torch.randn(5, 6, H, H, generator=torch.Generator().manual_seed(0))
    assert delta(maps, reading)[0] == 0.0


@pytest.mark.parametrize("reading", READINGS)
def test_constant_map_has_no_high_frequencies(reading: Reading) -> None:
    result = delta(maps_of(torch.full((H, H), 3.0)), reading)
    # |F(0)| = 3 * 64, every other frequency is empty: log(EPS) - log(192) ~ -19.
    assert result[1:].tolist() == pytest.approx([EMPTY - math.log(3.0 * H * H)] * (len(result) - 1), abs=1e-3)


def test_checkerboard_is_seen_by_nyquist_and_absent_from_park_kim() -> None:
    y, x = grid()
    maps = maps_of((-1.0) ** (x + y))  # zero mean; all its energy, |F| = 64, sits in the Nyquist bin
    nyquist = delta(maps, "nyquist")
    assert nyquist[-1].item() == pytest.approx(math.log(H * H) - EMPTY, abs=1e-3)
    assert nyquist[:-1].abs().max().item() < 1e-3
    # The reference never reads the Nyquist bin: every bin it reads is empty, so the map looks flat.
    assert delta(maps, "park-kim").abs().max().item() < 1e-3


@pytest.mark.parametrize("k0", [1, 2, 3])
def test_diagonal_cosine_at_bin_k0(k0: int) -> None:
    y, x = grid()
    image = 2.0 + torch.cos(2 * math.pi * k0 * (x + y) / H)  # energy at frequency 0 and at (k0, k0) only
    # |F(k0, k0)| = 64 / 2 = 32 against |F(0)| = 128: log(1/4) above frequency 0 in bin k0, and the other
    # bins empty (float32 rounding leaves ~1e-5 there instead of 0, still below -12 against |F(0)|).
    for reading in READINGS:
        result = delta(maps_of(image), reading).tolist()
        assert result[k0] == pytest.approx(math.log(0.25), abs=1e-4), reading
        assert all(v < -12 for k, v in enumerate(result) if k not in (0, k0)), (reading, result)
    # Bin 3 is true frequency 0.75 pi; the reference labels it 1.0 pi, its highest frequency.
    labelled, true = diagonal_frequencies(H, "park-kim")
    assert (labelled[3].item(), true[3].item()) == pytest.approx((1.0, 0.75))


def test_linearity_constant_plus_checkerboard_of_equal_size() -> None:
    """The FFT is linear: a constant c plus a checkerboard of amplitude c has |F(0)| = |F(pi, pi)| = 64 c."""
    y, x = grid()
    for c in (0.5, 4.0):
        result = delta(maps_of(c + c * (-1.0) ** (x + y)), "nyquist")
        assert result[-1].item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("reading", READINGS)
def test_scaling_a_map_changes_nothing(reading: Reading) -> None:
    maps = torch.randn(4, 5, H, H, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(delta(7.5 * maps, reading), delta(maps, reading), atol=1e-4, rtol=0)


def test_log_before_the_channel_mean() -> None:
    y, x = grid()
    constant, board = torch.ones(H, H), (-1.0) ** (x + y)
    maps = torch.stack([constant, board]).expand(1, 2, H, H)
    amplitude = diagonal_log_amplitude(maps, "nyquist")[0]
    single = [diagonal_log_amplitude(maps_of(m, 1, 1), "nyquist")[0] for m in (constant, board)]
    torch.testing.assert_close(amplitude, (single[0] + single[1]) / 2)


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (3, 8, 8)])
def test_non_square_or_unbatched_maps_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="square grid"):
        diagonal_log_amplitude(torch.zeros(shape), "park-kim")


def test_unknown_reading_is_refused() -> None:
    assert check_reading("nyquist") == "nyquist"
    with pytest.raises(ConfigError, match="use park-kim or nyquist"):
        check_reading("Nyquist")


def profile(reading: Reading = "park-kim") -> FourierProfile:
    return FourierProfile(
        attention=(False, True), reading=reading, grid=4, frequencies=(0.0, 1.0), true_frequencies=(0.0, 0.5),
        delta=((0.0, -1.0), (0.0, -2.0), (0.0, 0.5), (0.0, 1.5)), images=3,
    )  # fmt: skip


def test_profile_sublayers_rows_and_csv(tmp_path: Path) -> None:
    p = profile()
    assert p.depth == 2
    assert p.labels() == ("1 mixer", "1 mlp", "2 mixer", "2 mlp")
    assert p.sublayer_modes() == ("conv", "conv", "attention", "attention")
    assert p.high_frequency() == (-1.0, -2.0, 0.5, 1.5)
    assert p.high_label() == "delta log amplitude at 1.00 pi (park-kim reading: true 0.50 pi)"
    assert p.rows()[4:6] == [(2, "mixer", "attention", 0.0, 0.0, 0.0), (2, "mixer", "attention", 1.0, 0.5, 0.5)]
    path = tmp_path / "f.csv"
    p.write_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "layer,sublayer,mode,reading,frequency,true_frequency,delta_log_amplitude"
    assert lines[1:] == [
        "1,mixer,conv,park-kim,0.0000,0.0000,0.000000", "1,mixer,conv,park-kim,1.0000,0.5000,-1.000000",
        "1,mlp,conv,park-kim,0.0000,0.0000,0.000000", "1,mlp,conv,park-kim,1.0000,0.5000,-2.000000",
        "2,mixer,attention,park-kim,0.0000,0.0000,0.000000", "2,mixer,attention,park-kim,1.0000,0.5000,0.500000",
        "2,mlp,attention,park-kim,0.0000,0.0000,0.000000", "2,mlp,attention,park-kim,1.0000,0.5000,1.500000",
    ]  # fmt: skip


def test_profile_needs_two_rows_per_block() -> None:
    with pytest.raises(ValueError, match="3 rows of deltas for 2 blocks"):
        FourierProfile((False, True), "nyquist", 4, (0.0,), (0.0,), ((0.0,),) * 3, images=1)
