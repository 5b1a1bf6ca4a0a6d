"""How an image's power is spread over spatial frequencies: two numbers that tell smooth from speckled.

Notebook 09 (DeepDream) uses them to measure what each trick changes in a dream:

* ``high_frequency_share``: the share of an image's power above a radial frequency, i.e. how much of
  it is fine, pixel-scale texture rather than larger structure;
* ``grid_energy``: the share of its power on the frequencies that repeat every ``period`` pixels
  along a row or a column (for ``period=2``, the highest frequency, a checkerboard): the pattern that
  the gradient of a network with stride-2 pooling leaves in an image when nothing moves it around;
* ``power_spectrum``: the power itself, per frequency, for pictures.

The mean of each channel is removed first (a constant offset is no structure), and the power of a
batch is summed over images and channels.
"""
from __future__ import annotations

import torch

__all__ = ["power_spectrum", "high_frequency_share", "grid_energy"]


def _check_images(images, caller: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = f"a tensor of shape {tuple(images.shape)} and dtype {images.dtype}" if isinstance(images, torch.Tensor) \
            else type(images).__name__
        raise ValueError(f"{caller} expects a float tensor of images (N, C, H, W), got {got}.")
    if images.shape[-1] < 2 or images.shape[-2] < 2:
        raise ValueError(f"{caller} needs images of at least 2 x 2 pixels, got {tuple(images.shape[-2:])}.")


def power_spectrum(images: torch.Tensor) -> torch.Tensor:
    """The power |FFT|^2 of the mean-free images, summed over the batch and the channels.

    Args:
        images: ``(N, C, H, W)`` float tensor.

    Returns:
        ``(H, W)`` float64 tensor in FFT order (frequency 0 at ``[0, 0]``; ``torch.fft.fftshift`` centres it).
    """
    _check_images(images, "power_spectrum")
    x = images.detach().to(torch.float64)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    return (torch.fft.fft2(x).abs() ** 2).sum(dim=(0, 1)).cpu()


def _share(power: torch.Tensor, mask: torch.Tensor) -> float:
    total = float(power.sum())
    return float(power[mask].sum()) / total if total > 0 else 0.0


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> float:
    """The share of the images' power at radial frequencies above ``cutoff`` cycles per pixel.

    Frequencies run from 0 to 0.5 cycles per pixel along each axis (0.5: a pattern that flips every
    pixel); the radial frequency is sqrt(fy^2 + fx^2). White noise puts about 80 % of its power above
    0.25; a photograph puts a few per cent there.

    Args:
        images: ``(N, C, H, W)`` float tensor.
        cutoff: in cycles per pixel, between 0 and 0.5 * sqrt(2).

    Returns:
        A float in [0, 1] (0 for a constant image).
    """
    _check_images(images, "high_frequency_share")
    if not 0 <= cutoff <= 0.5 * 2 ** 0.5:
        raise ValueError(f"cutoff is in cycles per pixel, between 0 and {0.5 * 2 ** 0.5:.3f}; got {cutoff}.")
    power = power_spectrum(images)
    fy = torch.fft.fftfreq(power.shape[0], dtype=torch.float64)
    fx = torch.fft.fftfreq(power.shape[1], dtype=torch.float64)
    radius = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    return _share(power, radius > cutoff)


def grid_energy(images: torch.Tensor, period: int = 2) -> float:
    """The share of the images' power on frequencies that repeat every ``period`` pixels along an axis.

    These are the rows and columns of the spectrum whose frequency is a nonzero multiple of
    1 / ``period`` cycles per pixel (needs H and W divisible by ``period``). For ``period=2`` they are
    the highest frequency of each axis, 0.5: stripes and checkerboards that flip every pixel. White
    noise puts there the share of the bins that those ``period - 1`` rows and columns hold, about
    ``2 (period - 1) / H`` for a square image (1.6 % for 128 x 128 and period 2); a checkerboard puts
    all its power there.

    Args:
        images: ``(N, C, H, W)`` float tensor.
        period: in pixels, an integer >= 2 that divides both H and W.

    Returns:
        A float in [0, 1] (0 for a constant image).
    """
    _check_images(images, "grid_energy")
    height, width = images.shape[-2:]
    if not isinstance(period, int) or isinstance(period, bool) or period < 2 or height % period or width % period:
        raise ValueError(f"period must be an integer >= 2 that divides the image's height and width "
                         f"({height} x {width}), got {period!r}.")
    power = power_spectrum(images)
    mask = torch.zeros(height, width, dtype=torch.bool)
    rows = [k * height // period for k in range(1, period)]
    cols = [k * width // period for k in range(1, period)]
    mask[rows, :] = True
    mask[:, cols] = True
    return _share(power, mask)
