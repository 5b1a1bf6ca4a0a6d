"""course_utils.batching: the chunk size chosen from the work, against sizes computed by hand."""
import pytest
import torch
from torch import nn

from course_utils import choose_batch_size, layer_bytes_per_input, load_model
from course_utils.batching import TARGET_BYTES


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 5)).eval()


class Counting(nn.Module):
    """Counts its forward calls; optionally raises in the forward pass."""

    def __init__(self, fail=False):
        super().__init__()
        self.body, self.calls, self.fail = small_cnn(), 0, fail

    def forward(self, x):
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom")
        return self.body(x)


def no_hooks_left(model):
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_layer_bytes_is_the_largest_input_plus_output_of_one_layer():
    model = small_cnn()
    x = torch.rand(4, 3, 16, 16)
    # The conv and the ReLU both read and write 8 x 16 x 16 floats (the conv reads 3 x 16 x 16): the ReLU is largest.
    assert layer_bytes_per_input(model, x) == (8 * 16 * 16 + 8 * 16 * 16) * 4
    no_hooks_left(model)


def test_chosen_size_is_the_target_over_the_bytes_within_one_and_total():
    model, x = small_cnn(), torch.rand(1, 3, 16, 16)
    per_input = (8 * 16 * 16 * 2) * 4
    assert choose_batch_size(model, x) == TARGET_BYTES // per_input
    assert choose_batch_size(model, x, total=10) == 10
    assert choose_batch_size(model, x, total=0) == 1
    assert choose_batch_size(model, x, "auto", total=10) == 10
    for name, shape, expected in [("lenet-mnist", (1, 28, 28), 167), ("shapes-cnn", (3, 64, 64), 32)]:
        chosen = choose_batch_size(load_model(name, device="cpu"), torch.rand(2, *shape), total=10_000)
        assert isinstance(chosen, int) and chosen == expected, (name, chosen)


def test_a_known_total_is_split_into_equal_chunks_no_larger_than_the_chosen_size():
    model, x = small_cnn(), torch.rand(1, 3, 16, 16)
    size = choose_batch_size(model, x)
    for total in [1, size - 1, size, size + 1, 2 * size + 3, 529, 10 * size + 1]:
        chunk = choose_batch_size(model, x, total=total)
        n_chunks = -(-total // chunk)
        assert chunk <= size and n_chunks == -(-total // size), (total, chunk)  # fewest chunks of at most `size`
        assert n_chunks * chunk - total < n_chunks, (total, chunk)  # the last chunk is short by less than one per chunk
    lenet = load_model("lenet-mnist", device="cpu")
    assert choose_batch_size(lenet, torch.rand(1, 1, 28, 28), total=529) == 133  # 04's 23 x 23 positions: 4 x 133
    assert choose_batch_size(lenet, torch.rand(1, 1, 28, 28), total=400) == 134  # 16 digits x 25 samples: 3 x 134


def test_a_size_set_by_hand_is_kept():
    model, x = Counting(), torch.rand(1, 3, 16, 16)
    assert choose_batch_size(model, x, 7, total=3) == 7
    assert choose_batch_size(model, x, 1) == 1
    assert model.calls == 0, "a hand-set size must not run the model"


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "big", torch.tensor([4])])
def test_a_bad_batch_size_is_refused_in_one_sentence(bad):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        choose_batch_size(small_cnn(), torch.rand(1, 3, 16, 16), bad)


def test_bad_total_model_and_inputs_are_refused():
    with pytest.raises(ValueError, match="total must be"):
        choose_batch_size(small_cnn(), torch.rand(1, 3, 16, 16), total=-1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        choose_batch_size(lambda x: x, torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="at least one input"):
        choose_batch_size(small_cnn(), torch.rand(0, 3, 16, 16))


def test_measured_once_per_model_and_input_shape():
    model = Counting()
    for _ in range(3):
        choose_batch_size(model, torch.rand(5, 3, 16, 16))
    assert model.calls == 1
    choose_batch_size(model, torch.rand(2, 3, 16, 16, dtype=torch.float64).float()[:, :, :, :])
    assert model.calls == 1, "the same shape, dtype and device: no new measurement"
    choose_batch_size(model.double(), torch.rand(2, 3, 16, 16, dtype=torch.float64))
    assert model.calls == 2, "another dtype is measured again"


def test_measuring_leaves_no_hook_and_restores_the_training_flags_even_after_an_exception():
    model = Counting(fail=True).train()
    model.body[1].eval()
    with pytest.raises(RuntimeError, match="boom"):
        choose_batch_size(model, torch.rand(1, 3, 16, 16))
    no_hooks_left(model)
    assert model.training and model.body.training and not model.body[1].training
    model.fail = False
    choose_batch_size(model, torch.rand(1, 3, 16, 16))
    no_hooks_left(model)
    assert model.training and not model.body[1].training


def test_measuring_does_not_touch_batch_norm_statistics_or_the_random_stream():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5), nn.Flatten()).train()
    before, x = model[1].running_mean.clone(), torch.rand(1, 1, 8, 8)
    torch.manual_seed(0)
    choose_batch_size(model, x)
    after_draw = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(model[1].running_mean, before) and torch.equal(after_draw, torch.rand(1))


def test_occlusion_and_smoothgrad_give_the_same_maps_with_any_chunk_size(nb04, nb05):
    shapes_cnn = load_model("shapes-cnn", device="cpu")
    g = torch.Generator().manual_seed(0)
    x, t = torch.rand(2, 3, 64, 64, generator=g), torch.tensor([1, 5])
    maps = [nb04["occlusion_map"](shapes_cnn, x, t, 16, 8, "blur", b) for b in (None, 1, 7, 49, 1000)]
    for other in maps[1:]:
        torch.testing.assert_close(other, maps[0], rtol=0, atol=1e-5)
    maps = [nb05["smoothgrad"](shapes_cnn, x, t, 0.2, 6, b, 3) for b in (None, 1, 5, 12)]
    for other in maps[1:]:
        torch.testing.assert_close(other, maps[0], rtol=1e-4, atol=1e-6)
