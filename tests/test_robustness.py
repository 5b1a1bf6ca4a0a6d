"""course_utils.robustness: the helpers that measure attacks, against plain computations."""
import pytest
import torch
from torch import nn

from course_utils import (FixedOutside, QueryCounter, accuracy_against_epsilon, attack_in_batches, format_table,
                          perturbation_norms, predict, quantize_8bit, random_signs)
from course_utils.robustness import mark_outcomes, survives_restarts


def tiny_classifier(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4)).eval()


def shift_attack(model, inputs, target, epsilon):
    # Not a real attack: adds epsilon to every pixel (enough to test the bookkeeping).
    return (inputs + epsilon).clamp(0, 1)


def test_predict_equals_argmax_in_one_pass():
    model, x = tiny_classifier(), torch.rand(23, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(predict(model, x, batch_size=5), model(x).argmax(dim=1))


def test_attack_in_batches_equals_one_call():
    model, x = tiny_classifier(), torch.rand(11, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.zeros(11, dtype=torch.long)
    assert torch.equal(attack_in_batches(shift_attack, model, x, y, batch_size=4, epsilon=0.1), shift_attack(model, x, y, 0.1))


def test_default_batch_size_comes_from_the_model_and_splits_evenly(monkeypatch):
    from course_utils import batching, choose_batch_size
    monkeypatch.setattr(batching, "TARGET_BYTES", 100_000)  # a tiny model: make the chosen chunks small

    class Sizes(nn.Module):  # records the size of every batch it is given
        def __init__(self, model):
            super().__init__()
            self.model, self.sizes = model, []

        def forward(self, x):
            self.sizes.append(len(x))
            return self.model(x)

    x = torch.rand(1000, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    model = Sizes(tiny_classifier())
    expected_chunk = choose_batch_size(model, x, total=len(x))
    model.sizes.clear()
    assert torch.equal(predict(model, x), model.model(x).argmax(dim=1))
    assert 1 < expected_chunk < len(x) and len(model.sizes) > 2
    assert model.sizes[:-1] == [expected_chunk] * (len(model.sizes) - 1) and sum(model.sizes) == len(x)
    sizes = []
    attack_in_batches(lambda m, inputs, t, epsilon: sizes.append(len(inputs)) or inputs, model, x,
                      torch.zeros(len(x), dtype=torch.long), epsilon=0.1)
    assert sizes == model.sizes[:len(sizes)] and sum(sizes) == len(x)


def test_the_pass_that_sizes_batches_is_not_counted_as_queries():
    box = QueryCounter(tiny_classifier())
    predict(box, torch.rand(7, 1, 8, 8))
    assert box.queries == 7


def test_accuracy_against_epsilon_counts_correct_predictions():
    model, x = tiny_classifier(), torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    y = model(x).argmax(dim=1)
    y[:6] = (y[:6] + 1) % 4                                     # 6 of 30 wrong on clean images
    accuracies, images = accuracy_against_epsilon(shift_attack, model, x, y, [0, 0.2], keep=True)
    assert accuracies[0] == pytest.approx(24 / 30)
    assert accuracies[0.2] == pytest.approx((model((x + 0.2).clamp(0, 1)).argmax(dim=1) == y).float().mean().item())
    assert torch.equal(images[0], x)


def test_perturbation_norms_by_hand():
    a = torch.zeros(2, 1, 2, 2)
    b = a.clone()
    b[0, 0, 0, 0], b[0, 0, 1, 1], b[1, 0, 0, 1] = 0.3, -0.4, 0.1
    norms = perturbation_norms(a, b)
    torch.testing.assert_close(norms["Linf"], torch.tensor([0.4, 0.1]))
    torch.testing.assert_close(norms["L2"], torch.tensor([0.5, 0.1]))
    assert norms["L0"].tolist() == [2, 1]
    with pytest.raises(ValueError, match="same shape"):
        perturbation_norms(a, b[:1])


def test_quantize_8bit_rounds_to_levels_and_keeps_8bit_images():
    levels = torch.arange(256).float() / 255
    assert torch.equal(quantize_8bit(levels), levels)
    assert torch.equal(quantize_8bit(levels + 0.4 / 255), levels)
    assert torch.equal(quantize_8bit(torch.tensor([-0.2, 1.3])), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="float tensor"):
        quantize_8bit(torch.tensor([1, 2]))


def test_random_signs_are_plus_or_minus_epsilon_and_seeded():
    first = random_signs((1000,), 0.2, torch.Generator().manual_seed(0))
    again = random_signs((1000,), 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and torch.equal(first.abs(), torch.full((1000,), 0.2)) and (first > 0).any()
    assert abs(first.mean().item()) < 0.02


def test_query_counter_counts_images_and_gives_no_gradient():
    model = tiny_classifier()
    box = QueryCounter(model)
    x = torch.rand(7, 1, 8, 8, requires_grad=True)
    p = box(x)
    box(x[:3])
    assert box.queries == 10 and not p.requires_grad
    torch.testing.assert_close(p, torch.softmax(model(x), dim=1).detach())


def test_fixed_outside_reads_only_the_masked_pixels():
    model = tiny_classifier()
    images, other = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    masks = torch.zeros(2, 8, 8)
    masks[:, 2:5, 3:6] = 1
    wrapped = FixedOutside(model, images, masks)
    mixed = torch.where(masks[:, None] > 0, other, images)
    torch.testing.assert_close(wrapped(other), model(mixed))
    x = other.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(wrapped(x).sum(), x)
    assert (grad[masks[:, None] == 0] == 0).all()
    with pytest.raises(ValueError, match="same images"):
        wrapped(other[:1])


def test_format_table_aligns_columns_and_checks_rows():
    text = format_table(["a", "bb"], [[1, 0.5], [22, 0.25]], ["d", ".2f"], width=4)
    assert text.splitlines() == ["   a    bb", "   1  0.50", "  22  0.25"]
    with pytest.raises(ValueError, match="2 entries"):
        format_table(["a", "bb"], [[1]])


def test_bad_inputs_get_one_sentence_errors():
    model = tiny_classifier()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        predict(model, torch.rand(8, 8))
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, torch.rand(2, 1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match="one class per image"):
        attack_in_batches(shift_attack, model, torch.rand(3, 1, 8, 8), torch.zeros(2, dtype=torch.long), epsilon=0.1)


def noise_attack(model, inputs, target, epsilon, random_start):
    # Not a real attack: a random point of the epsilon-ball, seeded by random_start (enough for the bookkeeping).
    g = torch.Generator().manual_seed(random_start)
    return (inputs + epsilon * (2 * torch.rand(inputs.shape, generator=g) - 1)).clamp(0, 1)


def test_survives_restarts_is_the_and_of_every_restart_by_hand():
    model, x = tiny_classifier(), torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    y = model(x).argmax(dim=1)
    y[:5] = (y[:5] + 1) % 4                                      # 5 wrong from the start
    got = survives_restarts(noise_attack, model, x, y, 3, batch_size=16, epsilon=0.6)
    expected = model(x).argmax(dim=1) == y
    for restart in range(3):                                     # by hand: seeds 1000 r + chunk, chunks of the survivors
        todo = expected.nonzero()[:, 0]
        for chunk, start in enumerate(range(0, len(todo), 16)):
            rows = todo[start:start + 16]
            expected[rows] = model(noise_attack(model, x[rows], y[rows], 0.6, 1000 * restart + chunk)).argmax(1) == y[rows]
    assert torch.equal(got, expected) and not got[:5].any() and got.sum() < 35
    one = survives_restarts(noise_attack, model, x, y, 1, batch_size=16, epsilon=0.6)
    assert (got <= one).all()                                    # more restarts never rescue an image
    start = torch.zeros(40, dtype=torch.bool)
    assert not survives_restarts(noise_attack, model, x, y, 2, standing=start, epsilon=0.6).any()


def test_mark_outcomes_colours_titles():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    fig, axes = plt.subplots(1, 3)
    for ax in axes:
        ax.set_title("t")
    mark_outcomes(axes, [True, False, None])
    assert [to_rgba(ax.title.get_color()) for ax in axes] == [to_rgba("tab:green"), to_rgba("tab:red"), to_rgba("black")]
    with pytest.raises(ValueError, match="only 3 images"):
        mark_outcomes(axes, [True] * 4)
    plt.close(fig)
