"""course_utils.spectrum against numpy's FFT, Parseval's theorem and patterns whose spectrum is known."""
import numpy as np
import pytest
import torch

from course_utils.spectrum import grid_energy, high_frequency_share, power_spectrum


def numpy_power(images):
    x = images.double().numpy()
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    return (np.abs(np.fft.fft2(x)) ** 2).sum(axis=(0, 1))


def test_power_spectrum_is_numpys_and_obeys_parseval():
    images = torch.rand(2, 3, 6, 10, generator=torch.Generator().manual_seed(0))
    power = power_spectrum(images)
    assert power.shape == (6, 10) and power.dtype == torch.float64
    np.testing.assert_allclose(power.numpy(), numpy_power(images), rtol=1e-10, atol=1e-9)
    centred = images.double() - images.double().mean(dim=(-2, -1), keepdim=True)
    assert float(power.sum()) == pytest.approx(6 * 10 * float((centred ** 2).sum()), rel=1e-10)
    assert float(power[0, 0]) == pytest.approx(0, abs=1e-9)


def test_high_frequency_share_by_a_loop_over_frequencies():
    images = torch.rand(1, 2, 8, 12, generator=torch.Generator().manual_seed(1))
    power = numpy_power(images)
    above = 0.0
    for i in range(8):
        for j in range(12):
            fy = i / 8 if i < 4 else i / 8 - 1
            fx = j / 12 if j < 6 else j / 12 - 1
            if (fy ** 2 + fx ** 2) ** 0.5 > 0.3:
                above += power[i, j]
    assert high_frequency_share(images, cutoff=0.3) == pytest.approx(above / power.sum(), rel=1e-10)


def test_known_patterns():
    i, j = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checkerboard = ((i + j) % 2).float()[None, None]
    assert grid_energy(checkerboard, period=2) == pytest.approx(1.0)
    assert high_frequency_share(checkerboard) == pytest.approx(1.0)
    stripes4 = torch.cos(2 * np.pi * j / 4).float()[None, None]           # period 4 along rows
    assert grid_energy(stripes4, period=4) == pytest.approx(1.0)
    assert grid_energy(stripes4, period=2) == pytest.approx(0.0, abs=1e-12)
    smooth = torch.cos(2 * np.pi * i / 16).float()[None, None]            # one cycle per image
    assert high_frequency_share(smooth) == pytest.approx(0.0, abs=1e-12)
    constant = torch.full((1, 3, 8, 8), 0.7)
    assert grid_energy(constant) == 0.0 and high_frequency_share(constant) == 0.0


def test_white_noise_puts_about_the_bins_share_on_the_grid():
    noise = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    bins_share = (32 + 32 - 1) / (32 * 32)                                 # row 16 and column 16
    assert grid_energy(noise, period=2) == pytest.approx(bins_share, rel=0.1)


@pytest.mark.parametrize("call", [
    lambda: power_spectrum(torch.rand(3, 8, 8)),
    lambda: high_frequency_share(torch.zeros(1, 1, 8, 8, dtype=torch.int64)),
    lambda: high_frequency_share(torch.rand(1, 1, 8, 8), cutoff=0.9),
    lambda: grid_energy(torch.rand(1, 1, 9, 8), period=2),
    lambda: grid_energy(torch.rand(1, 1, 8, 8), period=1),
    lambda: grid_energy(np.zeros((1, 1, 8, 8))),
])
def test_bad_input_gets_a_one_sentence_error(call):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")
