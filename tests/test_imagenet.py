"""Tests for course_utils.imagenet: no network and no real weights, every cache in a temporary TORCH_HOME."""
import os
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.transforms.functional import normalize

from course_utils import imagenet
from course_utils.imagenet import (
    IMAGENET_MEAN,
    IMAGENET_MODELS,
    IMAGENET_STD,
    ImageNetWeightsUnavailable,
    imagenet_available,
    imagenet_classes,
    imagenet_denormalize,
    imagenet_normalize,
    imagenet_preprocess,
    imagenet_weights_path,
    load_imagenet_model,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, offline and quiet."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_QUIET", "1")
    return home


def save_untrained_squeezenet():
    """Save the squeezenet1_1 architecture built without weights exactly where the checkpoint belongs."""
    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(weights=None)
    path = imagenet_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.state_dict()


def test_cache_path_follows_torch_home(torch_home):
    for name in IMAGENET_MODELS:
        path = imagenet_weights_path(name)
        assert path.parent == torch_home / "hub" / "checkpoints"
        url = torchvision.models.get_model_weights(name).IMAGENET1K_V1.url
        assert path.name == url.rsplit("/", 1)[-1] and path.suffix == ".pth"


def test_nothing_available_in_an_empty_cache(torch_home):
    start = time.perf_counter()
    assert imagenet_available() is False
    assert not any(imagenet_available(name) for name in IMAGENET_MODELS)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_load_offline_fails_fast_with_one_clear_message(torch_home, name):
    start = time.perf_counter()
    with pytest.raises(ImageNetWeightsUnavailable) as info:
        load_imagenet_model(name, device="cpu")
    assert time.perf_counter() - start < 3.0
    message = str(info.value)
    assert repr(name) in message
    assert str(imagenet_weights_path(name)) in message
    assert f"python -m course_utils.imagenet fetch {name}" in message and "make weights" in message
    assert "\n" not in message
    assert info.value.path == imagenet_weights_path(name) and isinstance(info.value, RuntimeError)
    assert not imagenet_weights_path(name).exists()


def test_unreachable_host_fails_with_the_host_named(torch_home, monkeypatch):
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(imagenet, "_weights_host_reachable", lambda url: False)
    with pytest.raises(ImageNetWeightsUnavailable, match="download.pytorch.org cannot be reached"):
        load_imagenet_model("alexnet", device="cpu")


def test_unknown_name_lists_the_known_names(torch_home):
    for call in (load_imagenet_model, imagenet_weights_path, imagenet_available, imagenet_classes):
        with pytest.raises(ValueError) as info:
            call("resnet50")
        assert all(name in str(info.value) for name in IMAGENET_MODELS)


def test_cached_checkpoint_is_loaded_into_the_same_architecture(torch_home):
    saved = save_untrained_squeezenet()
    assert imagenet_available("squeezenet1_1") and imagenet_available()
    assert not imagenet_available("vgg16")

    model = load_imagenet_model("squeezenet1_1", device="cpu")
    assert not model.training
    loaded = model.state_dict()
    assert loaded.keys() == saved.keys()
    for key in saved:
        torch.testing.assert_close(loaded[key], saved[key], rtol=0, atol=0)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_corrupt_cached_file_says_to_delete_it(torch_home):
    path = imagenet_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a checkpoint")
    with pytest.raises(ImageNetWeightsUnavailable, match="cannot be loaded.*delete that file"):
        load_imagenet_model("squeezenet1_1", device="cpu")


@pytest.mark.parametrize("failure", [urllib.error.URLError("Connection reset by peer"),
                                     RuntimeError('invalid hash value (expected "b8a52dc0", got "0000")')])
def test_failing_download_leaves_no_file(torch_home, monkeypatch, failure):
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(imagenet, "_weights_host_reachable", lambda url: True)

    def half_download(url, dst, hash_prefix, progress):
        assert url.startswith("https://") and hash_prefix == "b8a52dc0"
        Path(dst).write_bytes(b"first bytes of the file")
        raise failure

    monkeypatch.setattr(imagenet, "_download_url", half_download)
    with pytest.raises(ImageNetWeightsUnavailable) as info:
        load_imagenet_model("squeezenet1_1", device="cpu")
    message = str(info.value)
    assert "could not be downloaded" in message and "'squeezenet1_1'" in message
    assert "fetch squeezenet1_1" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    checkpoints = imagenet_weights_path("squeezenet1_1").parent
    assert list(checkpoints.iterdir()) == []


def test_reachability_check_on_local_ports():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert imagenet._host_reachable("127.0.0.1", port, timeout=2.0)
    start = time.perf_counter()
    assert not imagenet._host_reachable("127.0.0.1", port, timeout=2.0)  # now closed
    assert time.perf_counter() - start < 2.5


def run_cli(*args, torch_home):
    """Run ``python -m course_utils.imagenet ARGS`` offline in a fresh process."""
    env = dict(os.environ, TORCH_HOME=str(torch_home), COURSE_OFFLINE="1", COURSE_QUIET="1")
    # runpy warns when the package __init__ already imported this module (the flat re-export); not ours to test.
    command = [sys.executable, "-W", "ignore::RuntimeWarning:runpy", "-m", "course_utils.imagenet", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_cli_status_and_offline_fetch(torch_home):
    save_untrained_squeezenet()
    status = run_cli("status", torch_home=torch_home)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert str(torch_home / "hub" / "checkpoints") in lines[0]
    assert len(lines) == 1 + len(IMAGENET_MODELS)
    for line, name in zip(lines[1:], IMAGENET_MODELS):
        assert name in line and str(imagenet_weights_path(name)) in line
        assert ("cached" if name == "squeezenet1_1" else "missing") in line

    fetch = run_cli("fetch", "vgg16", torch_home=torch_home)
    assert fetch.returncode == 1
    assert "Traceback" not in fetch.stderr + fetch.stdout
    assert fetch.stderr.strip().count("\n") == 0
    assert fetch.stderr.startswith("error: ") and "'vgg16'" in fetch.stderr
    assert str(imagenet_weights_path("vgg16")) in fetch.stderr and "fetch vgg16" in fetch.stderr


def test_cli_fetch_in_process(torch_home, capsys):
    assert imagenet.main(["fetch", "resnet50"]) == 1
    assert "Unknown ImageNet model 'resnet50'" in capsys.readouterr().err
    save_untrained_squeezenet()
    assert imagenet.main(["fetch", "squeezenet1_1"]) == 0
    assert "already cached at" in capsys.readouterr().out
    assert imagenet.main(["fetch"]) == 1  # alexnet is not cached and we are offline
    assert capsys.readouterr().err.startswith("error: ImageNet weights for 'alexnet'")


def test_classes_and_preprocessing_need_no_network(torch_home):
    for name in IMAGENET_MODELS:
        classes = imagenet_classes(name)
        assert len(classes) == 1000 and len(set(classes)) == 1000 and all(isinstance(c, str) for c in classes)
    assert imagenet_classes("vgg16")[0] == "tench"
    transform = imagenet_preprocess("alexnet")
    assert tuple(transform.mean) == IMAGENET_MEAN and tuple(transform.std) == IMAGENET_STD
    assert transform(torch.rand(3, 300, 260)).shape == (3, 224, 224)


def test_normalize_matches_torchvision_and_round_trips():
    images = torch.rand(2, 3, 8, 5, dtype=torch.float64)
    normalized = imagenet_normalize(images)
    torch.testing.assert_close(normalized, normalize(images, IMAGENET_MEAN, IMAGENET_STD))
    torch.testing.assert_close(imagenet_denormalize(normalized), images)
    images.requires_grad_(True)
    imagenet_normalize(images).sum().backward()
    expected = (1 / torch.tensor(IMAGENET_STD, dtype=torch.float64)).view(1, 3, 1, 1).expand_as(images)
    torch.testing.assert_close(images.grad, expected)


@pytest.mark.parametrize("images, hint", [
    (torch.rand(3, 8, 8), "unsqueeze(0)"),
    (torch.rand(2, 8, 8, 3), "permute(0, 3, 1, 2)"),
    (torch.rand(2, 1, 8, 8), "(N, 3, H, W)"),
])
def test_normalize_rejects_wrong_shapes(images, hint):
    for call in (imagenet_normalize, imagenet_denormalize):
        with pytest.raises(ValueError) as info:
            call(images)
        assert hint in str(info.value) and str(tuple(images.shape)) in str(info.value)


def test_normalize_rejects_integer_images():
    with pytest.raises(TypeError, match=r"float\(\) / 255"):
        imagenet_normalize(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
