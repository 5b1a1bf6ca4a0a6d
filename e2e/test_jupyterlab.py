"""Every solution notebook, as a student sees it in JupyterLab: open, Run All, no error, every control works.

nbval proves that a notebook's Python runs; this proves that what JupyterLab shows works: the kernel
starts without a dialog (the notebooks carry the kernelspec that `make lab` registers), widgets
render, and moving each slider, dropdown or toggle changes the picture it controls. On failure it saves
a screenshot and the page's text under build/browser-artifacts/ and names notebook, cell and control.

It also measures, for every control, the milliseconds from the key press (or pick) to the last change of
its picture, and writes them with each notebook's median and maximum to bench/results/sliders.json
(a benchmark: budget median < 250 ms, no control over 1 s on 2 cores; it never fails the test).
Both ends are timed inside the page, on the browser's clock (``TIMING_JS``): the input event's time
stamp, and the last change of the control's Output widget (a node added or removed, text or an image
source changed, or a new image decoded). The test's own look at the page from Python (a Playwright
round trip every ``POLL`` seconds) only decides when the picture has settled; its time, which adds that
round trip and the polling delay, is kept beside it as ``polled_ms``.

The student notebooks (notebooks/, no exercise done) are run all too: every error they show must be one
line naming the unfinished exercise and its section (course_utils.unfinished), in a cell or under a
widget's controls: no traceback, no path into course_utils, no NameError, no half-drawn picture.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "browser-artifacts"

NOTEBOOKS = sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
RUN_ALL_TIMEOUT = 240  # seconds for Run All (a notebook's budget is 60 s; CI shares 2 cores)
CONTROL_TIMEOUT = 30   # seconds for one control's output to change
KERNEL_START_TIMEOUT = 120  # seconds for a notebook's kernel to start (then the page is loaded once more)
POLL = 0.02            # seconds between looks at an output while timing a control
ERROR_MARKERS = ("Traceback (most recent call last)", "Error displaying widget", "Failed to display Jupyter Widget")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Runs in the page: the cells of the visible notebook, with their prompt, their output text and the
# controls each holds (sliders, dropdowns, toggle buttons of ipywidgets 8).
CELLS_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  return Array.from(panel.querySelectorAll('.jp-Cell')).map((cell, index) => ({
    index,
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).innerText || '',
    text: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(o => o.innerText).join('\\n'),
    sliders: cell.querySelectorAll('.widget-slider .noUi-handle').length,
    dropdowns: cell.querySelectorAll('.widget-dropdown select').length,
    toggles: cell.querySelectorAll('.widget-toggle-buttons').length,
  }));
}"""

# Runs in the page: arm the timing of one control of cell `index`. The first input event after arming
# (key, mouse button, or a dropdown's input/change) stamps window.__inputAt; every change inside the
# cell's Output widgets, and every image there that finishes decoding, stamps window.__changedAt.
TIMING_JS = """(index) => {
  const w = window;
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cell = panel.querySelectorAll('.jp-Cell')[index];
  if (w.__outputObserver) w.__outputObserver.disconnect();
  w.__inputAt = null;
  w.__changedAt = null;
  const changed = () => { w.__changedAt = performance.now(); };
  const watch = (img) => { if (!img.complete) img.addEventListener('load', changed, {once: true}); };
  w.__outputObserver = new MutationObserver((records) => {
    changed();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.tagName === 'IMG') watch(node);
        node.querySelectorAll('img').forEach(watch);
      }
      if (record.type === 'attributes' && record.target.tagName === 'IMG') watch(record.target);
    }
  });
  cell.querySelectorAll('.widget-output').forEach((output) => w.__outputObserver.observe(output,
    {childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['src']}));
  if (!w.__inputListeners) {
    w.__inputListeners = true;
    for (const type of ['keydown', 'mousedown', 'input', 'change']) {
      document.addEventListener(type, (event) => { if (w.__inputAt === null) w.__inputAt = event.timeStamp; }, true);
    }
  }
}"""
TIMING_RESULT_JS = "() => [window.__inputAt, window.__changedAt]"
REARM_INPUT_JS = "() => { window.__inputAt = null; }"


class Page:
    """The open notebook: a thin layer over the Playwright page, for readable failures."""

    def __init__(self, page, name: str):
        self.page, self.name = page, name

    def fail(self, message: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = Path(self.name).stem
        self.page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        (ARTIFACTS / f"{stem}.txt").write_text(self.page.inner_text("body"))
        pytest.fail(f"{self.name}: {message} (screenshot and page text in {ARTIFACTS.relative_to(ROOT)}/{stem}.*)")

    def cells(self) -> list[dict]:
        return self.page.evaluate(CELLS_JS) or []

    def cell(self, index: int):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)

    def output_html(self, index: int) -> str:
        # What the controls of this cell redraw: the Output widget(s) of interactive_plot.
        return self.cell(index).locator(".widget-output").evaluate_all("els => els.map(e => e.innerHTML).join('')")


def _open(browser, lab, name: str, folder: str = "solutions") -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A workspace of its own (reset), so that no tab of an earlier notebook is restored.
    url = f"{lab['url']}/lab/workspaces/e2e-{folder}-{Path(name).stem}/tree/{folder}/{name}?reset&token={lab['token']}"
    page.goto(url)
    nb = Page(page, name)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=90_000)
    _wait_for_kernel(nb, lab, f"{folder}/{name}", reload=url)
    _no_dialog(nb)
    _no_popup(nb)
    return nb


def _api(lab, method: str, path: str):
    request = urllib.request.Request(f"{lab['url']}{path}", method=method, headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def _kernel_state(nb: Page, lab, path: str) -> tuple[str | None, str, str | None]:
    """The notebook's kernel as the server and the page see it: (server state, toolbar's kernel name, indicator)."""
    try:
        sessions = json.loads(_api(lab, "GET", "/api/sessions"))
    except (OSError, ValueError):
        sessions = []
    server = next(((s.get("kernel") or {}).get("execution_state") for s in sessions if s.get("path") == path), None)
    name = nb.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName").first
    indicator = nb.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator").first
    return (server, name.inner_text().strip() if name.count() else "",
            indicator.get_attribute("data-status") if indicator.count() else None)


def _wait_for_kernel(nb: Page, lab, path: str, reload: str) -> None:
    """Wait until the notebook's own kernel runs and is idle, on the server and in the page.

    The execution indicator alone is not enough: while JupyterLab has not yet asked the server for a session
    it reads "idle" beside "No Kernel" (seen for 1-5 s per notebook under load), and a Run All clicked then
    runs nothing. So the server must list a session for this notebook whose kernel is idle, and the toolbar
    must name the workbook's kernel. If no kernel has started after ``KERNEL_START_TIMEOUT`` seconds the
    page is loaded once more (a session request lost while the server was busy); a second wait that fails
    is reported as the kernel not starting, which is not the same failure as slow cells.
    """
    for attempt in range(2):
        deadline, state = time.monotonic() + KERNEL_START_TIMEOUT, None
        while time.monotonic() < deadline:
            state = _kernel_state(nb, lab, path)
            server, kernel_name, indicator = state
            if server == "idle" and indicator == "idle" and kernel_name not in ("", "No Kernel"):
                return
            time.sleep(0.5)
        if attempt == 0:
            print(f"{nb.name}: no running kernel after {KERNEL_START_TIMEOUT} s (server: {state[0]}, toolbar: "
                  f"{state[1]!r}, indicator: {state[2]}); loading the page again")
            nb.page.goto(reload)
            nb.page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=90_000)
    server, kernel_name, indicator = state
    log = Path(lab["dir"]) / "jupyterlab.log"
    tail = log.read_text()[-1500:] if log.is_file() else "(no log)"
    nb.fail(f"the kernel did not start within 2 x {KERNEL_START_TIMEOUT} s (the cells were never run; server's "
            f"session state: {server}, toolbar: {kernel_name!r}, indicator: {indicator}); JupyterLab's log ends:\n{tail}")


def _no_popup(nb: Page) -> None:
    # JupyterLab's first-run notifications (news, update checks) are toasts in the corner.
    toast = nb.page.locator(".Toastify__toast")
    if toast.count():
        nb.fail(f"a pop-up covers part of the page: {' '.join(toast.first.inner_text().split())[:200]!r}")


def _no_dialog(nb: Page) -> None:
    dialog = nb.page.locator(".jp-Dialog")
    if dialog.count():
        nb.fail(f"a dialog covers the notebook: {' '.join(dialog.first.inner_text().split())[:200]!r}")


def _pending(nb: Page) -> list[int]:
    return [c["index"] for c in nb.cells() if c["code"] and c["prompt"].strip() in ("", "[ ]:", "[*]:")]


def _run_all(nb: Page) -> list[dict]:
    """Run All, and wait until every code cell has run.

    Run All queues every cell (prompt ``[*]:``). A click while the kernel is still settling in can be
    lost, whole or after the first cell (the rest show ``[ ]:`` again with the kernel idle): then
    click again, which runs the notebook from the top.
    """
    deadline = time.monotonic() + RUN_ALL_TIMEOUT
    for attempt in range(3):
        nb.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        nb.page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        nb.page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        started = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1)
            _no_dialog(nb)
            cells = [c for c in nb.cells() if c["code"]]
            idle = nb.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
            if cells and not _pending(nb) and idle:
                return nb.cells()
            queued = any(c["prompt"].strip() == "[*]:" for c in cells)
            if idle and not queued and time.monotonic() - started > 10:
                if any(m in c["text"] for c in cells for m in ERROR_MARKERS):
                    return nb.cells()  # Run All stops at an error: the caller reports it
                print(f"{nb.name}: Run All was lost (cells {_pending(nb)} never queued); clicking it again")
                break  # nothing queued, nothing running, cells left: the click was lost
        else:
            break
    nb.fail(f"Run All did not finish within {RUN_ALL_TIMEOUT} s; cells still waiting or running: {_pending(nb)}")


ATTEMPTS = 3  # a move can land on a value that draws the same picture (e.g. another digit of the same class)


def _move(nb: Page, index: int, kind: str, k: int, attempt: int) -> str:
    """Move the k-th control of one kind in cell ``index``; each attempt moves it further or elsewhere.

    Sliders are moved with the keyboard, as a user can: one step right (left at the maximum), then to
    the far end. Dropdowns and toggle buttons pick another option each attempt. Returns what was done.
    """
    cell = nb.cell(index)
    if kind == "slider":
        box = cell.locator(".widget-slider").nth(k)
        label = box.locator(".widget-label").first.inner_text()
        handle = box.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        before = box.locator(".widget-readout").first.inner_text()
        keys = [("ArrowRight", "ArrowLeft"), ("End", "Home"), ("Home", "End")][attempt]
        handle.focus()
        nb.pressed = time.monotonic()
        nb.page.keyboard.press(keys[0])
        handle.blur()
        if box.locator(".widget-readout").first.inner_text() == before:  # already there: the other way
            handle.focus()
            nb.page.evaluate(REARM_INPUT_JS)  # time the key press that moves it
            nb.pressed = time.monotonic()
            nb.page.keyboard.press(keys[1])
            handle.blur()
        return f"slider {label!r} ({before} -> {box.locator('.widget-readout').first.inner_text()})"
    if kind == "dropdown":
        select = cell.locator(".widget-dropdown select").nth(k)
        label = cell.locator(".widget-dropdown").nth(k).locator(".widget-label").first.inner_text()
        options = select.locator("option").evaluate_all("os => os.map(o => o.value)")
        current = select.input_value()
        others = [o for o in options if o != current]
        choice = [others[0], others[-1], others[len(others) // 2]][attempt]
        nb.pressed = time.monotonic()
        select.select_option(choice)
        return f"dropdown {label!r} ({current!r} -> {choice!r})"
    group = cell.locator(".widget-toggle-buttons").nth(k)
    buttons = group.locator("button")
    others = [i for i in range(buttons.count()) if "mod-active" not in (buttons.nth(i).get_attribute("class") or "")]
    target = [others[0], others[-1], others[len(others) // 2]][attempt]
    nb.pressed = time.monotonic()
    buttons.nth(target).click()
    return f"toggle buttons {group.locator('.widget-label').first.inner_text()!r} (-> {buttons.nth(target).inner_text()!r})"


def _settled(nb: Page, index: int, quiet: float = 0.75, poll: float = 0.25) -> str:
    # The Output widget clears, then redraws: wait until it has not changed for `quiet` seconds.
    # nb.changed is when it last changed.
    html, since = nb.output_html(index), time.monotonic()
    nb.changed = None
    deadline = since + CONTROL_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(poll)
        now = nb.output_html(index)
        if now != html:
            html, since = now, time.monotonic()
            nb.changed = since
        elif time.monotonic() - since >= quiet:
            break
    return html


def _summary(latencies: list[dict]) -> dict:
    ms = sorted(item["ms"] for item in latencies)
    if not ms:
        return {"controls": 0, "median_ms": None, "max_ms": None, "slowest": None, "over_1s": []}
    middle = len(ms) // 2
    median = ms[middle] if len(ms) % 2 else (ms[middle - 1] + ms[middle]) / 2
    slowest = max(latencies, key=lambda item: item["ms"])
    polled = sorted(item.get("polled_ms", item["ms"]) for item in latencies)
    polled_median = polled[middle] if len(polled) % 2 else (polled[middle - 1] + polled[middle]) / 2
    return {"controls": len(ms), "median_ms": round(median), "max_ms": round(ms[-1]), "slowest": slowest["control"],
            "over_1s": [item["control"] for item in latencies if item["ms"] > 1000],
            "polled_median_ms": round(polled_median), "polled_max_ms": round(polled[-1])}


def _record_latencies(name: str, latencies: list[dict]) -> None:
    """Merge one notebook's control timings into bench/results/sliders.json (other notebooks' entries stay)."""
    path = ROOT / "bench" / "results" / "sliders.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        results = {}
    results[Path(name).stem] = {**_summary(latencies), "latencies": latencies}
    path.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_every_control_redraws(browser, lab, name):
    nb = _open(browser, lab, name)
    try:
        cells = _run_all(nb)
        for c in cells:
            marker = next((m for m in ERROR_MARKERS if m in c["text"]), None)
            if marker:
                nb.fail(f"cell {c['index']} shows an error ({marker}): {c['text'][-400:]!r}")
        moved, latencies = [], []
        for c in cells:
            for kind, count in (("slider", c["sliders"]), ("dropdown", c["dropdowns"]), ("toggle", c["toggles"])):
                for k in range(count):
                    tried = []
                    for attempt in range(ATTEMPTS):
                        before = _settled(nb, c["index"])
                        nb.page.evaluate(TIMING_JS, c["index"])
                        tried.append(_move(nb, c["index"], kind, k, attempt))
                        deadline = time.monotonic() + CONTROL_TIMEOUT
                        first = None
                        while time.monotonic() < deadline:
                            if nb.output_html(c["index"]) != before:
                                first = time.monotonic()
                                break
                            time.sleep(POLL)
                        if _settled(nb, c["index"], poll=POLL) != before:
                            done = nb.changed or first
                            polled = round(1000 * (done - nb.pressed), 1)
                            input_at, changed_at = nb.page.evaluate(TIMING_RESULT_JS)
                            in_page = (round(changed_at - input_at, 1)
                                       if input_at is not None and changed_at is not None and changed_at >= input_at
                                       else None)
                            latencies.append({"cell": c["index"], "control": tried[-1],
                                              "ms": in_page if in_page is not None else polled,
                                              "timed": "in the page" if in_page is not None else "polled",
                                              "polled_ms": polled})
                            break
                    else:
                        nb.fail(f"cell {c['index']}: moving the {kind} did not change its output "
                                f"(tried {'; '.join(tried)}, {CONTROL_TIMEOUT} s each)")
                    if any(m in nb.cell(c["index"]).inner_text() for m in ERROR_MARKERS):
                        nb.fail(f"cell {c['index']}: {tried[-1]} produced an error: {nb.cell(c['index']).inner_text()[-400:]!r}")
                    moved.append(tried[-1])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{Path(name).stem}.controls.json").write_text(json.dumps(moved, indent=1))
        _record_latencies(name, latencies)
        summary = _summary(latencies)
        print(f"{name}: moved {len(moved)} controls; picture after {summary['median_ms']} ms median, "
              f"{summary['max_ms']} ms at most")
    finally:
        nb.page.close()
        _shut_down_kernels(lab)


def _shut_down_kernels(lab) -> None:
    """End every session and kernel of the lab, so that eleven notebooks' kernels do not pile up in memory."""
    def call(method: str, path: str):
        return _api(lab, method, path)

    try:
        for session in json.loads(call("GET", "/api/sessions")):
            call("DELETE", f"/api/sessions/{session['id']}")
        for kernel in json.loads(call("GET", "/api/kernels")):
            call("DELETE", f"/api/kernels/{kernel['id']}")
    except OSError as exc:  # the server is gone: nothing left to end
        print(f"could not shut the kernels down: {exc}")


# ---------------------------------------------------------------------------- the student notebooks

STUDENT_NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
# What a cell shows when an exercise is not written yet (course_utils.unfinished), and nothing else.
_WHERE = r"(?: \((?:notebook \d\d, )?section \d+\))?"
ONE_LINE = re.compile(rf"needs exercise \d\d\.\d `\w+`{_WHERE} — finish it, then run this cell again"
                      rf"|exercise \d\d\.\d `\w+`{_WHERE} is not (?:done|right) yet: see the report above")
NOISE = ("Traceback", "course_utils/", "NameError", "Error displaying widget", "Failed to display Jupyter Widget")
SAVE_TIMEOUT = 30

# Runs in the page: what the Output widgets of each cell show (interactive_plot draws there).
WIDGET_OUTPUTS_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  return Array.from(panel.querySelectorAll('.jp-Cell')).map(cell => Array.from(cell.querySelectorAll('.widget-output'))
    .map(w => ({text: w.innerText,
                errors: Array.from(w.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')).map(e => e.innerText),
                images: w.querySelectorAll('img').length})));
}"""


def _saved(nb: Page, lab, name: str) -> nbformat.NotebookNode:
    """Save the notebook in JupyterLab (Ctrl+S) and read it back: its outputs, each with its type."""
    path = Path(lab["dir"]) / "notebooks" / name
    nb.page.keyboard.press("Control+s")
    deadline = time.monotonic() + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            saved = nbformat.read(path, as_version=4)
            if any(c.get("outputs") for c in saved.cells if c.cell_type == "code"):
                return saved
        except (OSError, ValueError):
            pass  # being written
        time.sleep(0.5)
    nb.fail(f"saving the notebook (Ctrl+S) wrote no outputs to {path} within {SAVE_TIMEOUT} s")


def _output_text(output) -> str:
    if output.output_type == "error":
        return "\n".join(output.traceback)
    if output.output_type == "stream":
        return output.text
    return str(output.get("data", {}).get("text/plain", ""))


def unfinished_noise(saved: nbformat.NotebookNode, widget_outputs: list[list[dict]]) -> list[str]:
    """Everything a Run All of a student notebook shows that is not one line naming an unfinished exercise.

    Args:
        saved: the notebook as JupyterLab saved it after Run All.
        widget_outputs: per cell, what its Output widgets show (``WIDGET_OUTPUTS_JS``).

    Returns:
        One sentence per problem: an error output that is not exactly one such line, a traceback, a path
        into course_utils or a NameError anywhere, a picture beside an error (a half-drawn figure).
    """
    problems = []
    for index, cell in enumerate(saved.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.output_type == "error"]
        for error in errors:
            lines = [ANSI.sub("", line) for line in error.traceback]
            if len(lines) != 1 or not ONE_LINE.fullmatch(lines[0].strip()):
                problems.append(f"cell {index}: {error.ename} shows {len(lines)} lines, not one line naming an "
                                f"exercise: {ANSI.sub('', chr(10).join(lines))[-300:]!r}")
        for output in outputs:
            noise = next((n for n in NOISE if n in ANSI.sub("", _output_text(output))), None)
            if noise and output.output_type != "error":
                problems.append(f"cell {index}: a {output.output_type} output shows {noise!r}")
        if errors and any("image/png" in o.get("data", {}) for o in outputs):
            problems.append(f"cell {index}: a picture beside the error (half drawn)")
        for widget in widget_outputs[index] if index < len(widget_outputs) else []:
            noise = next((n for n in NOISE if n in widget["text"]), None)
            if noise:
                problems.append(f"cell {index}: a widget shows {noise!r}: {widget['text'][-300:]!r}")
            for text in widget["errors"]:
                if not ONE_LINE.fullmatch(text.strip()):
                    problems.append(f"cell {index}: a widget shows an error that is not one line naming an exercise: "
                                    f"{text[-300:]!r}")
            if widget["errors"] and widget["images"]:
                problems.append(f"cell {index}: a widget shows a picture beside its error (half drawn)")
    return problems


@pytest.mark.parametrize("name", STUDENT_NOTEBOOKS)
def test_student_notebook_shows_one_line_per_unfinished_exercise(browser, lab, name):
    """A student's notebook before any exercise is done: Run All, and every error is one line naming its exercise."""
    nb = _open(browser, lab, name, folder="notebooks")
    try:
        _run_all(nb)
        widget_outputs = nb.page.evaluate(WIDGET_OUTPUTS_JS)
        saved = _saved(nb, lab, name)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)  # what was checked, for a reader of a failure
        nbformat.write(saved, ARTIFACTS / f"student-{name}")
        (ARTIFACTS / f"student-{Path(name).stem}.widgets.json").write_text(json.dumps(widget_outputs, indent=1))
        problems = unfinished_noise(saved, widget_outputs)
        if problems:
            nb.fail(f"{len(problems)} outputs are not one line naming an exercise:\n" + "\n".join(problems))
        lines = sum(o.output_type == "error" for c in saved.cells for o in c.get("outputs", []))
        print(f"{name}: {lines} cells say which exercise they need, "
              f"{sum(len(w['errors']) for ws in widget_outputs for w in ws)} widgets do")
    finally:
        nb.page.close()
        _shut_down_kernels(lab)


def test_unfinished_noise_finds_tracebacks_name_errors_and_half_drawn_pictures():
    """The student-notebook check itself, on outputs made by hand (no browser needed)."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    line = "needs exercise 03.1 `conditional_affinities` (section 2) — finish it, then run this cell again"
    traceback = ["\x1b[0;31m---------\x1b[0m", "Traceback (most recent call last)", "File course_utils/checks.py:300"]
    cells = [new_code_cell(outputs=[new_output("error", ename="NotImplementedError", evalue="", traceback=[line])]),
             new_code_cell(outputs=[new_output("error", ename="NotImplementedError", evalue="", traceback=traceback)]),
             new_code_cell(outputs=[new_output("error", ename="NameError", evalue="name 'P' is not defined",
                                               traceback=["NameError: name 'P' is not defined"])]),
             new_code_cell(outputs=[new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
                                    new_output("error", ename="KeyError", evalue="", traceback=[line])])]
    widgets = [[], [], [], [], [{"text": "Traceback (most recent call last)", "errors": [], "images": 0}],
               [{"text": line, "errors": [line], "images": 1}]]
    cells += [new_code_cell(), new_code_cell()]
    problems = unfinished_noise(new_notebook(cells=cells), widgets)
    assert [p.split(":")[0] for p in problems] == ["cell 1", "cell 2", "cell 3", "cell 4", "cell 5"], problems
    assert unfinished_noise(new_notebook(cells=cells[:1]), [[]]) == []
    assert ONE_LINE.fullmatch("exercise 04.1 `occlusion_map` (section 5) is not right yet: see the report above")
