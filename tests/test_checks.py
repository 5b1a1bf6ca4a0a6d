"""The self-checks: they pass the solutions and say in words what is wrong with wrong answers."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import ExerciseCheckFailed, check
from course_utils.checks import compare_output, encode_output
from course_utils.exercises import all_exercises, get_exercise
from instructor.expected import main as expected_main
from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def solution01():
    return solution_functions("01_filters")


def test_solutions_pass_their_checks(solution01, capsys):
    for name in ("hidden_unit_line", "cross_correlate", "conv_parameter_count"):
        result = check(solution01[name])
        assert result.passed and result.score == result.points
    out = capsys.readouterr().out
    assert "PASSED: all 4 cases agree" in out


def test_expected_values_are_up_to_date():
    """The stored expected values are what the solution notebooks compute now (drift test)."""
    assert expected_main(["--check"]) == 0


# Float32 results differ across CPUs, kernels and thread counts. These settings reproduce that spread on
# one machine: oneDNN limited to older instruction sets picks other convolution kernels, and one OpenMP
# thread sums in another order. The stored values must pass the drift test under each, so that a fresh
# clone on another machine passes it too, and so must every self-check (its tolerance is ten times wider).
CPU_VARIANTS = {"AVX2 kernels": {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "SSE4.1 kernels": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
                "one thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}


@pytest.mark.parametrize("variant", sorted(CPU_VARIANTS))
def test_expected_values_hold_on_other_kernels_and_thread_counts(variant):
    import os
    import subprocess
    import sys

    env = {**os.environ, **CPU_VARIANTS[variant]}
    run = subprocess.run([sys.executable, "-m", "instructor.expected", "--check", "--verbose"], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"the drift test fails with {variant}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


def test_a_one_line_change_of_a_solution_fails_the_drift_test():
    """Round-off passes the drift test; a small real change of a solution does not."""
    from course_utils.checks import load_expected
    from course_utils.exercises import exercises_for
    from instructor.expected import DRIFT_SHARE, drift

    namespace = solution_functions("01_filters")
    exercise = next(ex for ex in exercises_for("01_filters") if ex.function == "cross_correlate")
    stored = load_expected("01_filters", "cross_correlate")
    cases = exercise.cases(0)

    def outputs(function):
        return [encode_output(function(**case.kwargs)) for case in cases]

    assert drift(stored, outputs(namespace["cross_correlate"])) <= DRIFT_SHARE * exercise.rtol
    # One line changed: the kernel's last column is left out of the sum.
    def changed(image, kernel):
        kh, kw = kernel.shape
        out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)
        for i in range(kh):
            for j in range(kw - 1):
                out += kernel[i, j] * image[i:i + out.shape[0], j:j + out.shape[1]]
        return out

    assert drift(stored, outputs(changed)) > DRIFT_SHARE * exercise.rtol
    # A change in the 4th significant digit is also caught: 1e-4 relative is ten times the drift tolerance.
    assert drift(stored, [[(k, a * (1 + 1e-4)) for k, a in case] for case in outputs(namespace["cross_correlate"])]) \
        > DRIFT_SHARE * exercise.rtol


# Independent checks of the solutions themselves, so that the expected values are known to be right.

def test_solution_cross_correlate_equals_conv2d(solution01):
    torch.manual_seed(0)
    image, kernel = torch.randn(13, 11), torch.randn(4, 3)
    torch.testing.assert_close(solution01["cross_correlate"](image, kernel), F.conv2d(image[None, None], kernel[None, None])[0, 0])


def test_solution_hidden_unit_line_is_on_the_line(solution01):
    torch.manual_seed(0)
    w, b = torch.randn(30, 2), torch.randn(30)
    points, directions = solution01["hidden_unit_line"](w, b)
    torch.testing.assert_close((w * points).sum(1) + b, torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close((w * directions).sum(1), torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(30))
    cross = w[:, 0] * directions[:, 1] - w[:, 1] * directions[:, 0]
    assert (cross > 0).all(), "directions must be w turned counter-clockwise"
    assert ((points * directions).sum(1).abs() < 1e-5).all(), "the closest point is perpendicular to the direction"


@pytest.mark.parametrize("c_in,c_out,k,bias", [(3, 16, 5, True), (16, 32, (3, 5), False), (1, 1, 1, True)])
def test_solution_parameter_count_equals_pytorch(solution01, c_in, c_out, k, bias):
    layer = nn.Conv2d(c_in, c_out, k, bias=bias)
    assert solution01["conv_parameter_count"](c_in, c_out, k, bias) == sum(p.numel() for p in layer.parameters())
    assert solution01["conv_parameter_count"](3, 16, 5) == 1216


# What students see when something is wrong.

def test_stub_says_not_done_yet(capsys):
    def cross_correlate(image, kernel):
        # YOUR CODE HERE
        raise NotImplementedError()
    with pytest.raises(NotImplementedError, match="01.2 `cross_correlate` is not written yet"):
        check(cross_correlate)
    assert "NOT DONE YET" in capsys.readouterr().out


def test_convolution_instead_of_correlation_fails_with_relative_error(solution01, capsys):
    def cross_correlate(image, kernel):
        return F.conv2d(image[None, None], kernel.flip(0, 1)[None, None])[0, 0]
    with pytest.raises(ExerciseCheckFailed, match="relative error .* above the tolerance 1e-05"):
        check(cross_correlate)
    out = capsys.readouterr().out
    assert "✗" in out and "largest difference at index" in out and "FAILED" in out


def test_wrong_shape_dtype_and_type_are_named(capsys):
    def cross_correlate(image, kernel):
        return torch.zeros(image.shape)
    with pytest.raises(ExerciseCheckFailed, match=r"has shape \(6, 7\), expected \(4, 5\)"):
        check(cross_correlate)

    def cross_correlate(image, kernel):
        return F.conv2d(image[None, None], kernel[None, None])[0, 0].double()
    with pytest.raises(ExerciseCheckFailed, match="dtype torch.float64, expected torch.float32"):
        check(cross_correlate)

    def cross_correlate(image, kernel):
        return F.conv2d(image[None, None], kernel[None, None])[0, 0].numpy()
    with pytest.raises(ExerciseCheckFailed, match="should be a torch.Tensor, got a numpy array"):
        check(cross_correlate)

    def conv_parameter_count(in_channels, out_channels, kernel_size, bias=True):
        return 1216.0
    with pytest.raises(ExerciseCheckFailed, match="should be an int, got float"):
        check(conv_parameter_count)


def test_wrong_signature_exception_and_in_place_changes(capsys, solution01):
    def hidden_unit_line(w, b):
        return solution01["hidden_unit_line"](w, b)
    with pytest.raises(ExerciseCheckFailed, match=r"should take \(weight, bias\) but takes \(w, b\)"):
        check(hidden_unit_line)

    def conv_parameter_count(in_channels, out_channels, kernel_size, bias=True):
        kh, kw = kernel_size  # breaks on an int kernel size
        return out_channels * in_channels * kh * kw + out_channels * bias
    with pytest.raises(ExerciseCheckFailed, match="raised TypeError"):
        check(conv_parameter_count)

    def cross_correlate(image, kernel):
        out = F.conv2d(image[None, None], kernel[None, None])[0, 0]
        image.zero_()
        return out
    with pytest.raises(ExerciseCheckFailed, match="changed its input `image` in place"):
        check(cross_correlate)


def test_check_argument_errors():
    with pytest.raises(TypeError, match="takes the function you wrote"):
        check("cross_correlate")
    with pytest.raises(KeyError, match="No exercise is called 'mystery'.*01.1 hidden_unit_line"):
        check(lambda x: x, exercise="mystery")


def test_compare_output_multiple_outputs():
    expected = encode_output((torch.zeros(2), torch.ones(3)))
    assert compare_output((torch.zeros(2), torch.ones(3)), expected, 1e-5) is None
    assert "tuple of 2 values" in compare_output(torch.zeros(2), expected, 1e-5)
    assert "output 2 has shape (2,), expected (3,)" in compare_output((torch.zeros(2), torch.ones(2)), expected, 1e-5)
    assert "NaN" in compare_output((torch.zeros(2), torch.tensor([1.0, float("nan"), 1.0])), expected, 1e-5)


def test_compare_output_absolute_tolerance():
    """A drop of a probability near 1 is known to float32's round-off at 1 (about 1e-7), however small the drop:
    04.1's case of a confident digit (drops of 9e-5) differed by 1.2e-7 under another thread count, a relative
    error of 7e-4. atol lets such a case pass and still fails a real mistake."""
    drops = torch.tensor([9.2864e-05, 3.0e-05, 0.0])
    expected = encode_output(drops)
    roundoff = drops + torch.tensor([-1.2e-7, 1.0e-7, 0.0])
    assert "relative error" in compare_output(roundoff, expected, 1e-4)
    assert compare_output(roundoff, expected, 1e-4, atol=1e-6) is None
    assert "relative error" in compare_output(drops * 1.05, expected, 1e-4, atol=1e-6)
    from course_utils.exercises import get_exercise
    assert get_exercise("04.1").atol == 1e-6


def test_registry_is_consistent():
    exercises = all_exercises()
    ids = [ex.id for ex in exercises]
    functions = [ex.function for ex in exercises]
    assert len(set(ids)) == len(ids) and len(set(functions)) == len(functions)
    for ex in exercises:
        assert ex.id.split(".")[0] == ex.notebook[:2]
        assert ex.points > 0 and ex.cases(0) and ex.cases(1)
        assert get_exercise(ex.id) is not None
    # other seeds give other inputs (for graders' fresh cases), the same seed the same ones
    ex = get_exercise("01.2")
    assert not torch.equal(ex.cases(0)[0].kwargs["image"], ex.cases(1)[0].kwargs["image"])
    assert torch.equal(ex.cases(3)[0].kwargs["image"], ex.cases(3)[0].kwargs["image"])


def test_a_stub_report_counts_all_the_cases(capsys):
    def relu_backward(pre_activation, grad_output, rule):
        raise NotImplementedError()

    n = len(get_exercise("06.1").cases(0))
    with pytest.raises(NotImplementedError):
        check(relu_backward)
    out = capsys.readouterr().out
    assert f"case 1/{n}," in out and "case 1/1," not in out and n > 1


def test_a_failing_case_shows_its_hint_and_a_passing_one_does_not(capsys):
    def relu_backward(pre_activation, grad_output, rule):     # the deconvnet's rule confused with backprop's
        rule = {"deconvnet": "backprop"}.get(rule, rule)
        mask = (pre_activation > 0) if rule == "backprop" else (pre_activation > 0) & (grad_output > 0)
        return grad_output * mask

    with pytest.raises(ExerciseCheckFailed):
        check(relu_backward)
    lines = capsys.readouterr().out.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("  ✗")]
    passed = [i for i, line in enumerate(lines) if line.startswith("  ✓")]
    assert len(failed) == 2 and all(lines[i + 1].strip().startswith("hint: ") for i in failed)
    assert lines[failed[0] + 1].strip().startswith("hint: the deconvnet ignores the forward pass")
    assert passed and not any(lines[i + 1].strip().startswith("hint: ") for i in passed)


def test_the_detached_contract_is_checked(capsys):
    from instructor.expected import solution_functions as functions

    nb06 = functions("06_guided_backprop")

    def guided_grad_cam(model, inputs, target, layer):      # right values, still attached to the graph
        return nb06["guided_grad_cam"](model, inputs, target, layer).requires_grad_(True) * 1.0

    with pytest.raises(ExerciseCheckFailed, match="attached to the autograd graph"):
        check(guided_grad_cam)
    assert "return it with `.detach()`" in capsys.readouterr().out
    assert check(nb06["guided_grad_cam"], quiet=True).passed


def test_a_passing_check_shows_no_result_line_in_a_notebook(solution01):
    result = check(solution01["cross_correlate"], quiet=True)
    assert result.passed and result._ipython_display_() is None     # IPython shows nothing for the returned value
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.user_ns["result"] = result
    with capture_output() as captured:
        shell.run_cell("result")
    assert "CheckResult" not in captured.stdout and not captured.outputs
