"""Widgets: sliders, dropdowns and toggles whose work is a plain function.

The pattern in every notebook is::

    def draw(layer, channel):            # a plain function: tests call it directly
        ...
    interactive_plot(draw, layer=dropdown(...), channel=int_slider(...))

``interactive_plot`` only wires the controls to ``draw``: each change of a control calls
``draw`` with the current values of all controls and shows what it drew.

For static pages (the course's notes), the environment variable ``COURSE_STATIC_WIDGETS=1`` makes
``interactive_plot`` draw once into the cell's own output, under a line that names each control's
value, so the exported HTML shows the picture without a running kernel.
"""
from __future__ import annotations

import gc
import io
import os
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, Markdown, display

from .unfinished import close_new_figures, show_line, unfinished_line

__all__ = ["int_slider", "sample_slider", "float_slider", "dropdown", "toggle_buttons", "interactive_plot"]

STATIC_ENV = "COURSE_STATIC_WIDGETS"
_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "420px"}


def _check_range(description, min, max, value, step):
    if not min < max:
        raise ValueError(f"Slider {description!r}: min ({min}) must be smaller than max ({max}).")
    if step <= 0:
        raise ValueError(f"Slider {description!r}: step must be positive, got {step}.")
    if value is not None and not min <= value <= max:
        raise ValueError(f"Slider {description!r}: value {value} lies outside [{min}, {max}].")


def int_slider(description: str, min: int, max: int, value: int | None = None, step: int = 1) -> widgets.IntSlider:
    """An integer slider that acts when released (``continuous_update=False``)."""
    _check_range(description, min, max, value, step)
    return widgets.IntSlider(value=min if value is None else value, min=min, max=max, step=step,
                             description=description, continuous_update=False, style=_STYLE, layout=_LAYOUT)


def sample_slider(description: str, n: int, value: int | None = None, seed: int = 0) -> widgets.SelectionSlider:
    """A slider over the indices ``0 .. n-1`` of a dataset, in a fixed shuffled order (acts when released).

    The test digits are stored sorted by class (100 zeros, then 100 ones, ...), so an ``int_slider`` over
    them steps through 100 zeros in a row. This slider steps through the same indices in an order drawn
    once from ``seed`` (the same on every machine), so neighbouring positions show mixed classes. Its value
    is the index itself: a drawing function takes it as it would an ``int_slider``'s. The readout shows it.

    Args:
        description: the label before the slider.
        n: how many samples; the values are ``0 .. n-1``.
        value: the index shown first; default: the first one of the shuffled order.
        seed: the seed of the order.

    Returns:
        An ``ipywidgets.SelectionSlider`` with options ``(str(index), index)`` in the shuffled order.
    """
    if n < 2:
        raise ValueError(f"Slider {description!r}: needs at least 2 samples, got {n}.")
    if value is not None and not 0 <= value < n:
        raise ValueError(f"Slider {description!r}: value {value} lies outside [0, {n - 1}].")
    order = [int(i) for i in np.random.default_rng(seed).permutation(n)]
    return widgets.SelectionSlider(options=[(str(i), i) for i in order], value=order[0] if value is None else value,
                                   description=description, continuous_update=False, style=_STYLE, layout=_LAYOUT)


def float_slider(description: str, min: float, max: float, value: float | None = None, step: float = 0.01,
                 readout_format: str = ".3g") -> widgets.FloatSlider:
    """A float slider that acts when released (``continuous_update=False``)."""
    _check_range(description, min, max, value, step)
    return widgets.FloatSlider(value=min if value is None else value, min=min, max=max, step=step,
                               description=description, continuous_update=False, readout_format=readout_format,
                               style=_STYLE, layout=_LAYOUT)


def dropdown(description: str, options: Sequence, value: Any = None) -> widgets.Dropdown:
    """A dropdown over ``options`` (a list of values, or of ``(label, value)`` pairs)."""
    options = list(options)
    if not options:
        raise ValueError(f"Dropdown {description!r} has no options to choose from.")
    values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]
    if value is not None and value not in values:
        raise ValueError(f"Dropdown {description!r}: {value!r} is not one of its options {values}.")
    return widgets.Dropdown(options=options, value=values[0] if value is None else value,
                            description=description, style=_STYLE)


def toggle_buttons(description: str, options: Sequence, value: Any = None) -> widgets.ToggleButtons:
    """A row of toggle buttons, one of which is selected."""
    options = list(options)
    if not options:
        raise ValueError(f"Toggle buttons {description!r} have no options.")
    return widgets.ToggleButtons(options=options, value=options[0] if value is None else value,
                                 description=description, style=_STYLE)


def interactive_plot(draw: Callable[..., Any], notes_states: Sequence[dict] | None = None,
                     **controls: widgets.ValueWidget) -> widgets.VBox:
    """Wire controls to a drawing function and return the widget to display.

    ``draw`` is called once straight away and again each time a control changes, with every
    control's current value as a keyword argument. Whatever it plots (matplotlib figures) or
    prints appears under the controls, replacing the previous picture.

    Args:
        draw: a plain function ``draw(**values)``; its return value is ignored.
        notes_states: the settings the text discusses, 2 to 6 dicts of control values (the others at their
            defaults), e.g. ``[{"rule": "deconvnet"}, {"rule": "guided"}]``. On a static page (the notes) the
            widget is drawn at each of them, as one sheet of panels titled with their values, instead of
            only at the defaults; in JupyterLab they change nothing.
        **controls: keyword name -> widget, e.g. ``channel=int_slider("channel", 0, 15)``.

    Returns:
        An ``ipywidgets.VBox`` holding the controls and the output area; its attribute
        ``controls`` maps names to widgets and ``output`` is the ``Output`` widget.
    """
    if not callable(draw):
        raise TypeError(f"interactive_plot needs a function to call, got {type(draw).__name__}.")
    if not controls:
        raise ValueError("interactive_plot needs at least one control, e.g. channel=int_slider('channel', 0, 15).")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"Control {name!r} must be an ipywidgets control with a value (a slider, dropdown, ...), "
                            f"got {type(control).__name__}.")
    states = _check_states(notes_states, controls)
    if os.environ.get(STATIC_ENV) == "1":
        return _draw_static(draw, controls, states)
    _freeze_long_lived_objects()
    output = widgets.Output()

    def redraw(change=None):
        values = {name: control.value for name, control in controls.items()}
        with _collector_paused(), output:
            output.clear_output(wait=True)
            figures = set(plt.get_fignums())
            try:
                draw(**values)
            except Exception as exc:  # an unfinished exercise: its one line under the controls, no half picture
                line = unfinished_line(exc)
                if line is None:
                    raise  # a real error: the Output widget shows its traceback
                close_new_figures(figures)
                show_line(line, exc)
                return
            _show_figures()

    for control in controls.values():
        control.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), output])
    box.controls = dict(controls)
    box.output = output
    box.redraw = redraw
    redraw()
    return box


_frozen = False


@contextmanager
def _collector_paused():
    """No automatic garbage collection while a redraw builds and encodes its figures.

    Otherwise the young collections that its allocations set off find the figure still alive and
    promote its thousands of objects to the oldest generation, where they die: every few moves that
    set off a full collection. Paused, the closed figure dies young, in the first young collection after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _freeze_long_lived_objects() -> None:
    """Take what the kernel holds now out of the garbage collector's full collections, once per kernel.

    After importing torch and matplotlib a kernel holds about half a million objects, and a full
    collection walks them all (0.2 to 0.4 s). The objects a redraw allocates (a figure is thousands)
    set one off every few moves of a control, which was the slowest move of many widgets. Frozen
    objects (modules, models, data) are still freed when nothing refers to them; only cyclic garbage
    among them is never collected, which is why everything collectable is collected first.
    """
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def _show_figures() -> None:
    """Show every open matplotlib figure as a PNG image and close it, as ``plt.show()`` does inline.

    The one difference is the PNG's compression: zlib level 1 instead of Pillow's default 6 encodes
    a figure of photographs in about half the time, for a file about a fifth larger that the browser
    reads as fast. A control's redraw waits for this encoding, so ``interactive_plot`` uses it.
    """
    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png", bbox_inches="tight", pil_kwargs={"compress_level": 1})
        display(Image(data=buffer.getvalue(), format="png"))
    plt.close("all")


class _StaticControls:
    """What ``interactive_plot`` returns on a static page: the controls, shown as nothing more."""

    def __init__(self, controls):
        self.controls = controls

    def _ipython_display_(self):
        pass  # the picture and the line naming the values are already in the cell's output


def _value_label(control: widgets.ValueWidget) -> str:
    label = getattr(control, "label", None)  # dropdowns and toggle buttons show a label per option
    return str(label if label else control.value)  # a selection slider's label is '' until it moves


def _check_states(states, controls) -> list[dict]:
    if states is None:
        return []
    states = list(states)
    if not 2 <= len(states) <= 6:
        raise ValueError(f"notes_states holds the 2 to 6 settings the text discusses; got {len(states)}.")
    for state in states:
        unknown = set(state) - set(controls) if isinstance(state, dict) else None
        if unknown is None or unknown:
            raise ValueError(f"Each of notes_states is a dict of control values, keyed by the controls' names "
                             f"({', '.join(controls)}); got {state!r}.")
    return states


def _label_of(control: widgets.ValueWidget, value) -> str:
    for option in getattr(control, "options", ()):
        if isinstance(option, tuple) and len(option) == 2 and option[1] == value:
            return str(option[0])
    return str(value)


def _draw_static(draw, controls, states=()):
    if not states:
        values = ", ".join(f"{c.description or name} = {_value_label(c)}" for name, c in controls.items())
        display(Markdown(f"*Interactive in JupyterLab; drawn here for* {values}."))
        draw(**{name: control.value for name, control in controls.items()})
        plt.show()
        return _StaticControls(dict(controls))
    # A small-multiples sheet: each state drawn as in JupyterLab, its figures rendered, then tiled with their values.
    from .plotting import show_images

    panels, titles = [], []
    for state in states:
        values = {name: control.value for name, control in controls.items()} | dict(state)
        before = set(plt.get_fignums())
        draw(**values)
        label = ", ".join(f"{controls[name].description or name} = {_label_of(controls[name], values[name])}" for name in state)
        for number in [n for n in plt.get_fignums() if n not in before]:
            figure = plt.figure(number)
            figure.canvas.draw()
            panels.append(np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255)
            titles.append(label)
            plt.close(figure)
    others = [f"{c.description or name} = {_value_label(c)}" for name, c in controls.items()
              if not any(name in state for state in states)]
    display(Markdown(f"*Interactive in JupyterLab; drawn here for the {len(states)} settings the text discusses*"
                     + (f" (and {', '.join(others)})." if others else ".")))
    ncols = 1 if max(p.shape[1] / p.shape[0] for p in panels) > 2.2 else 2
    show_images(panels, titles=titles, ncols=min(ncols, len(panels)), size=7.0 if ncols == 1 else 5.5, title_size=11)
    plt.show()
    return _StaticControls(dict(controls))
