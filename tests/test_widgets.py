import ipywidgets as widgets
import pytest

from course_utils import dropdown, float_slider, int_slider, interactive_plot, toggle_buttons


def test_interactive_plot_calls_draw_with_every_value_on_each_change():
    calls = []
    box = interactive_plot(lambda layer, channel: calls.append((layer, channel)),
                           layer=dropdown("layer", ["conv1", "conv2"]), channel=int_slider("channel", 0, 15, value=3))
    assert calls == [("conv1", 3)]
    box.controls["channel"].value = 7
    box.controls["layer"].value = "conv2"
    assert calls[-2:] == [("conv1", 7), ("conv2", 7)]
    assert isinstance(box, widgets.VBox) and isinstance(box.output, widgets.Output)


def test_sliders_act_on_release():
    assert int_slider("k", 0, 5).continuous_update is False
    assert float_slider("eps", 0.0, 1.0, value=0.1).continuous_update is False
    assert toggle_buttons("fill", ["zero", "mean"]).value == "zero"


def test_controls_reject_bad_arguments():
    with pytest.raises(ValueError, match="min .* must be smaller than max"):
        int_slider("k", 5, 5)
    with pytest.raises(ValueError, match="outside"):
        float_slider("eps", 0.0, 1.0, value=2.0)
    with pytest.raises(ValueError, match="not one of its options"):
        dropdown("layer", ["a", "b"], value="c")
    with pytest.raises(ValueError, match="no options"):
        dropdown("layer", [])
    with pytest.raises(TypeError, match="ipywidgets control"):
        interactive_plot(lambda k: None, k=3)
    with pytest.raises(ValueError, match="at least one control"):
        interactive_plot(lambda: None)


def test_static_pages_draw_once_and_name_each_value(monkeypatch):
    """`make notes`: with COURSE_STATIC_WIDGETS=1 the picture goes into the cell output, no widget is shown."""
    from IPython.core.formatters import format_display_data

    shown = []
    monkeypatch.setenv("COURSE_STATIC_WIDGETS", "1")
    monkeypatch.setattr("course_utils.widgets.display", lambda obj: shown.append(obj))
    calls = []
    result = interactive_plot(lambda layer, channel: calls.append((layer, channel)),
                              layer=dropdown("layer", [("first conv", "conv1"), ("second", "conv2")]),
                              channel=int_slider("channel", 0, 15, value=3))
    assert calls == [("conv1", 3)]
    assert len(shown) == 1 and "layer = first conv, channel = 3" in shown[0].data
    assert set(result.controls) == {"layer", "channel"}
    data, _ = format_display_data(result)
    assert data == {}, f"a static page must not show a widget, got {data}"


def test_sample_slider_steps_through_mixed_classes():
    """Over the class-sorted test digits, neighbouring positions show different classes; values are indices."""
    from course_utils import load_mnist, sample_slider
    _, labels = load_mnist("test")
    slider = sample_slider("digit", len(labels))
    order = [value for _, value in slider.options]
    assert sorted(order) == list(range(len(labels))) and slider.value == order[0]
    assert [value for _, value in sample_slider("digit", len(labels)).options] == order  # the same order every time
    assert slider.continuous_update is False
    first = labels[order[:20]]
    assert len(set(first.tolist())) >= 6, f"the first 20 positions show classes {first.tolist()}"
    assert (labels[order[1:]] == labels[order[:-1]]).float().mean() < 0.2  # sorted order: 0.99
    assert sample_slider("digit", 10, value=7).value == 7
    with pytest.raises(ValueError, match="outside"):
        sample_slider("digit", 10, value=10)


def test_a_redraw_shows_each_figure_as_a_png_and_closes_it(monkeypatch):
    """What a control's move shows: every figure draw left open, as one PNG each (as plt.show() inline), none left open."""
    import matplotlib.pyplot as plt
    from IPython.display import Image

    shown = []
    monkeypatch.setattr("course_utils.widgets.display", lambda obj: shown.append(obj))

    def draw(n):
        for i in range(n):
            plt.subplots(figsize=(2, 1))[1].set_title(f"figure {i}")

    box = interactive_plot(draw, n=int_slider("figures", 1, 3, value=1))
    box.controls["n"].value = 2
    assert [type(obj) for obj in shown] == [Image] * 3
    assert all(obj.data.startswith(b"\x89PNG") for obj in shown)
    assert plt.get_fignums() == []


def test_no_garbage_collection_while_a_redraw_draws_and_the_kernel_state_is_frozen():
    """A redraw runs with the collector paused (also when draw fails), and the objects held when the
    widget was made are out of full collections, so that no move waits for a walk over every object."""
    import gc

    seen = []
    box = interactive_plot(lambda k: seen.append(gc.isenabled()), k=int_slider("k", 0, 3))
    box.controls["k"].value = 1
    assert seen == [False, False] and gc.isenabled()
    assert gc.get_freeze_count() > 0

    def failing(k):
        seen.append(gc.isenabled())
        if k:
            raise ZeroDivisionError
    box = interactive_plot(failing, k=int_slider("k", 0, 3))
    try:
        box.controls["k"].value = 1
    except ZeroDivisionError:
        pass
    assert seen[-1] is False and gc.isenabled()


def test_static_pages_draw_the_states_the_text_discusses_as_one_sheet(monkeypatch):
    """`make notes` with notes_states: one sheet, one panel per state, each titled with its values (issue 29)."""
    import matplotlib
    import matplotlib.pyplot as plt

    shown, sheets = [], []
    monkeypatch.setenv("COURSE_STATIC_WIDGETS", "1")
    monkeypatch.setattr("course_utils.widgets.display", lambda obj: shown.append(obj))
    monkeypatch.setattr(plt, "show", lambda *a, **k: sheets.extend(plt.figure(n) for n in plt.get_fignums()))
    calls = []

    def draw(layer, channel):
        calls.append((layer, channel))
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow([[channel, 0], [0, 1]])

    interactive_plot(draw, notes_states=[{"layer": "conv2"}, {"layer": "conv2", "channel": 9}, {"channel": 0}],
                     layer=dropdown("layer", [("first conv", "conv1"), ("second", "conv2")]),
                     channel=int_slider("channel", 0, 15, value=3))
    assert calls == [("conv2", 3), ("conv2", 9), ("conv1", 0)]
    assert len(sheets) == 1, "the states are drawn as one sheet"
    titles = [ax.get_title() for ax in sheets[0].axes if ax.images]
    assert titles == ["layer = second", "layer = second, channel = 9", "channel = 0"]
    assert "3 settings the text discusses" in shown[0].data
    plt.close("all")
    monkeypatch.delenv("COURSE_STATIC_WIDGETS")
    with pytest.raises(ValueError, match="2 to 6"):
        interactive_plot(draw, notes_states=[{"layer": "conv1"}], layer=dropdown("layer", ["conv1"]))
    with pytest.raises(ValueError, match="keyed by the controls' names"):
        interactive_plot(draw, notes_states=[{"depth": 1}, {"layer": "conv1"}], layer=dropdown("layer", ["conv1"]))
    plt.close("all")
