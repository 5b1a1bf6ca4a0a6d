"""The optional ImageNet models: find their weights in the torch hub cache, fetch them, load them.

The ImageNet sections of the workbook use four torchvision classifiers. Their weights
(5 MB to 550 MB) are downloaded once into torch hub's cache (``$TORCH_HOME/hub/checkpoints``)
by ``make weights`` or ``python -m course_utils.imagenet fetch``. A notebook asks
``imagenet_available(name)`` first and skips the section in one printed line when the weights
are not there; ``load_imagenet_model`` never hangs and never shows a traceback from inside
urllib: whatever goes wrong becomes one ``ImageNetWeightsUnavailable`` saying what to do.

Command line::

    python -m course_utils.imagenet status
    python -m course_utils.imagenet fetch [NAME ...]

Set ``COURSE_OFFLINE=1`` to forbid every download attempt.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torch.hub
import torchvision

from course_utils.device import get_device

__all__ = [
    "IMAGENET_MODELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageNetWeightsUnavailable",
    "imagenet_weights",
    "imagenet_weights_path",
    "imagenet_available",
    "fetch_imagenet_weights",
    "load_imagenet_model",
    "imagenet_classes",
    "imagenet_preprocess",
    "imagenet_normalize",
    "imagenet_denormalize",
]

IMAGENET_MODELS = ("squeezenet1_1", "alexnet", "vgg16", "vgg19")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_WEIGHTS_TAG = "IMAGENET1K_V1"
_CONNECT_TIMEOUT_S = 3.0   # the reachability check: DNS and TCP connect together
_READ_TIMEOUT_S = 15.0     # a download whose server goes silent this long fails instead of hanging
_FETCH_COMMAND = "python -m course_utils.imagenet fetch {name}   (or: make weights)"


class ImageNetWeightsUnavailable(RuntimeError):
    """The weights of an ImageNet model are not cached and cannot be downloaded now.

    Attributes:
        name: the model's name, one of ``IMAGENET_MODELS``.
        path: the ``pathlib.Path`` where the checkpoint is expected.
    """

    def __init__(self, name: str, path: Path, why: str):
        self.name = name
        self.path = path
        super().__init__(
            f"ImageNet weights for {name!r} {why}. Expected file: {path}. "
            f"To get it, run while online: {_FETCH_COMMAND.format(name=name)}"
        )


def imagenet_weights(name: str) -> torchvision.models.WeightsEnum:
    """Return torchvision's ``IMAGENET1K_V1`` weights entry for one of ``IMAGENET_MODELS``.

    Args:
        name: ``"squeezenet1_1"``, ``"alexnet"``, ``"vgg16"`` or ``"vgg19"``.

    Returns:
        The weights enum member (it knows the URL, the class names and the preprocessing).
    """
    if name not in IMAGENET_MODELS:
        raise ValueError(f"Unknown ImageNet model {name!r}: choose one of {', '.join(IMAGENET_MODELS)}.")
    return torchvision.models.get_model_weights(name)[_WEIGHTS_TAG]


def imagenet_weights_path(name: str) -> Path:
    """Return where torch hub caches the checkpoint of ``name`` (it follows ``TORCH_HOME``).

    Args:
        name: one of ``IMAGENET_MODELS``.

    Returns:
        ``torch.hub.get_dir()/checkpoints/<file name of the weights URL>``, whether or not it exists.
    """
    url = imagenet_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlsplit(url).path)


def imagenet_available(name: str | None = None) -> bool:
    """Tell whether ImageNet weights are already cached; never touches the network.

    Args:
        name: one of ``IMAGENET_MODELS``, or ``None`` to ask whether any of them is cached.

    Returns:
        ``True`` when the checkpoint file is in the cache.
    """
    names = IMAGENET_MODELS if name is None else (name,)
    return any(imagenet_weights_path(n).is_file() for n in names)


def _offline() -> bool:
    """Return True when the environment variable ``COURSE_OFFLINE`` forbids downloads."""
    return os.environ.get("COURSE_OFFLINE", "") not in ("", "0")


def _host_reachable(host: str, port: int, timeout: float = _CONNECT_TIMEOUT_S) -> bool:
    """Tell whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    The attempt runs in a daemon thread so that a slow DNS lookup, which a socket
    timeout does not bound, cannot make the caller wait longer than ``timeout``.
    """
    opened = []

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                opened.append(True)
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=attempt, daemon=True, name="course-utils-reachability")
    thread.start()
    thread.join(timeout)
    return bool(opened)


def _weights_host_reachable(url: str) -> bool:
    """Tell whether the server of ``url`` (or the HTTP(S) proxy urllib would use) answers quickly."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname, proxy_parts.port or 80
    return host is not None and _host_reachable(host, port)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Set the default socket timeout (which torch.hub's ``urlopen`` uses) and restore it on exit."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download_url(url: str, dst: Path, hash_prefix: str | None, progress: bool) -> None:
    """Download ``url`` to ``dst`` with torch hub's downloader, checking the SHA-256 prefix."""
    with _socket_timeout(_READ_TIMEOUT_S):
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=hash_prefix, progress=progress)


def _one_line(err: BaseException) -> str:
    """Return a short one-line description of an exception, for an error message."""
    # URLError wraps the socket error in .reason; HTTPError (a subclass) reads best as "HTTP Error 404: ...".
    is_wrapper = isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
    reason = getattr(err, "reason", None) if is_wrapper else None
    text = str(reason if reason is not None else err).strip().splitlines()
    text = text[0] if text else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _show_progress(progress: bool | None) -> bool:
    """Resolve ``progress=None`` to: show a bar unless ``COURSE_QUIET`` is set."""
    if progress is None:
        return os.environ.get("COURSE_QUIET", "") in ("", "0")
    return bool(progress)


def fetch_imagenet_weights(name: str, progress: bool | None = None) -> Path:
    """Make sure the checkpoint of ``name`` is in the torch hub cache, downloading it if needed.

    A download goes to a temporary ``.partial`` file that is renamed only after the
    SHA-256 check passes, so a failed or interrupted download leaves no file behind.

    Args:
        name: one of ``IMAGENET_MODELS``.
        progress: show a download progress bar; ``None`` shows one unless ``COURSE_QUIET=1``.

    Returns:
        The path of the cached checkpoint.

    Raises:
        ImageNetWeightsUnavailable: not cached, and ``COURSE_OFFLINE=1`` is set, the server
            cannot be reached within a few seconds, or the download fails.
    """
    weights = imagenet_weights(name)
    path = imagenet_weights_path(name)
    if path.is_file():
        return path
    host = urllib.parse.urlsplit(weights.url).hostname
    if _offline():
        raise ImageNetWeightsUnavailable(name, path, "are not cached, and COURSE_OFFLINE=1 forbids downloading them")
    if not _weights_host_reachable(weights.url):
        raise ImageNetWeightsUnavailable(name, path, f"are not cached, and {host} cannot be reached (no internet?)")

    progress = _show_progress(progress)
    match = torch.hub.HASH_REGEX.search(path.name)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    if progress:
        print(f"Downloading the {name} weights from {weights.url} to {path}", file=sys.stderr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _download_url(weights.url, partial, match.group(1) if match else None, progress)
        os.replace(partial, path)
    except (urllib.error.URLError, http.client.HTTPException, OSError, RuntimeError) as err:
        # URLError/HTTPError, timeouts and resets (OSError), truncated bodies (HTTPException),
        # and torch.hub's "invalid hash value" (RuntimeError).
        raise ImageNetWeightsUnavailable(name, path, f"could not be downloaded from {host} ({_one_line(err)})") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_imagenet_model(name: str, device: str | torch.device | None = None,
                        progress: bool | None = None) -> torch.nn.Module:
    """Load an ImageNet classifier with its ``IMAGENET1K_V1`` weights, in eval mode.

    Uses the cached checkpoint when there is one (no network at all); otherwise fetches it
    first with ``fetch_imagenet_weights``. The model maps normalized images (N, 3, 224, 224)
    (see ``imagenet_normalize``) to logits (N, 1000).

    Args:
        name: ``"squeezenet1_1"``, ``"alexnet"``, ``"vgg16"`` or ``"vgg19"``.
        device: where to put the model; ``None`` means ``get_device()``.
        progress: show a download progress bar; ``None`` shows one unless ``COURSE_QUIET=1``.

    Returns:
        The ``torch.nn.Module`` in eval mode on ``device``.

    Raises:
        ImageNetWeightsUnavailable: the weights are not cached and cannot be downloaded now,
            or the cached file cannot be read.
    """
    path = fetch_imagenet_weights(name, progress)
    device = torch.device(device) if device is not None else get_device()
    try:
        # torchvision's own loader: weights.get_state_dict(check_hash=True) reads the cached file.
        model = torchvision.models.get_model(name, weights=imagenet_weights(name), progress=_show_progress(progress))
    except Exception as err:  # any failure here is about the file on disk: say which and how to fix it
        raise ImageNetWeightsUnavailable(
            name, path, f"are cached but cannot be loaded ({type(err).__name__}: {_one_line(err)}); delete that file"
        ) from None
    return model.to(device).eval()


def imagenet_classes(name: str) -> list[str]:
    """Return the 1000 ImageNet class names in the order of the model's outputs (no network).

    Args:
        name: one of ``IMAGENET_MODELS``.

    Returns:
        A list of 1000 strings; entry ``k`` names logit ``k``.
    """
    return list(imagenet_weights(name).meta["categories"])


def imagenet_preprocess(name: str):
    """Return the preprocessing the weights were trained with: resize, center crop, scale, normalize.

    Args:
        name: one of ``IMAGENET_MODELS``.

    Returns:
        A callable mapping a PIL image or a tensor (3, H, W) / (N, 3, H, W) to a normalized
        float tensor (..., 3, 224, 224). To optimize an image in [0, 1] instead, keep it
        unnormalized and pass ``imagenet_normalize(images)`` to the model.
    """
    return imagenet_weights(name).transforms()


def _check_images(images: torch.Tensor, caller: str) -> None:
    """Raise a clear error unless ``images`` is a float tensor of shape (N, 3, H, W)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{caller} expects a torch.Tensor of shape (N, 3, H, W), got {type(images).__name__}.")
    shape = tuple(images.shape)
    if images.dim() != 4 or shape[1] != 3:
        hint = ""
        if images.dim() == 3 and shape[0] == 3:
            hint = " For one image (3, H, W) pass image.unsqueeze(0)."
        elif images.dim() == 4 and shape[-1] == 3:
            hint = " For channels-last images (N, H, W, 3) pass images.permute(0, 3, 1, 2)."
        raise ValueError(f"{caller} expects images of shape (N, 3, H, W), got {shape}.{hint}")
    if not images.is_floating_point():
        raise TypeError(f"{caller} expects float images in [0, 1], got dtype {images.dtype}: use images.float() / 255.")


def _mean_std(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the ImageNet mean and std as (1, 3, 1, 1) tensors matching ``images``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return mean, std


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """Normalize images in [0, 1] with the ImageNet mean and std, differentiably.

    Args:
        images: float tensor (N, 3, H, W) with values in [0, 1].

    Returns:
        ``(images - mean) / std``, shape (N, 3, H, W).
    """
    _check_images(images, "imagenet_normalize")
    mean, std = _mean_std(images)
    return (images - mean) / std


def imagenet_denormalize(images: torch.Tensor) -> torch.Tensor:
    """Undo ``imagenet_normalize``: map normalized images back to the [0, 1] scale.

    Args:
        images: float tensor (N, 3, H, W), normalized with the ImageNet mean and std.

    Returns:
        ``images * std + mean``, shape (N, 3, H, W) (not clamped: clamp before showing).
    """
    _check_images(images, "imagenet_denormalize")
    mean, std = _mean_std(images)
    return images * std + mean


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``python -m course_utils.imagenet {fetch [NAME ...], status}``.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit code: 0 on success, 1 on failure (with one ``error:`` line on stderr).
    """
    parser = argparse.ArgumentParser(prog="python -m course_utils.imagenet",
                                     description="Fetch the optional ImageNet weights or show whether they are cached.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download weights into the torch hub cache (needs internet)")
    fetch.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(IMAGENET_MODELS)}")
    commands.add_parser("status", help="show, for each model, whether its weights are cached and where")
    args = parser.parse_args(argv)

    try:
        if args.command == "status":
            print(f"torch hub cache: {Path(torch.hub.get_dir()) / 'checkpoints'}  (set TORCH_HOME to move it)")
            for name in IMAGENET_MODELS:
                state = "cached " if imagenet_available(name) else "missing"
                print(f"  {name:<14} {state}  {imagenet_weights_path(name)}")
            return 0
        names = args.names or list(IMAGENET_MODELS)
        for name in names:
            imagenet_weights(name)  # reject an unknown name before downloading anything
        for name in names:
            was_cached = imagenet_available(name)
            path = fetch_imagenet_weights(name, progress=True)
            print(f"{name}: {'already cached at' if was_cached else 'saved to'} {path}")
        return 0
    except (ValueError, ImageNetWeightsUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; no partial file was kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
