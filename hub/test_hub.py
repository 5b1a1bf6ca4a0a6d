"""A real JupyterHub (config/jupyterhub/jupyterhub_config.py) on 127.0.0.1: two students, two servers, their own copies.

`make test-hub` starts the hub of the PyPI ``jupyterhub`` with npm's ``configurable-http-proxy`` (both installed by
`make instructor-env`), with two test accounts. Each student logs in with headless Chromium (Playwright, Debian's
Chromium as in the browser test), gets a server of their own, opens the student notebook 11_rnn_parity in it and runs
it all: every error it shows is one line naming an unfinished exercise (as the browser test asks of every student
notebook). alice adds a cell and saves; bob's copy does not have it, on disk or in his server; alice's browser cannot
read bob's server. bob had edited 04_occlusion before his first login: the spawn hook keeps his edit and copies the
rest. The grade command finds both students' notebooks in their homes.

Where a piece cannot be had (jupyterhub, the proxy, Playwright, Chromium), the test skips with a one-line reason.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "jupyterhub" / "jupyterhub_config.py"
NOTEBOOK = "11_rnn_parity.ipynb"  # the cheapest student notebook to run (about 5 s)
KEPT = "04_occlusion.ipynb"  # the one bob edited before his first login
STUDENTS = ("alice", "bob")
HUB_START_S = 120
SPAWN_S = 240  # log in to a running JupyterLab: the server's start, on a busy 2-core machine
MARK = "# alice was here: her own copy"
KERNEL_DISPLAY_NAME = "Python (Optimizing the Input)"
RESULTS = ROOT / "bench" / "results" / "hub.json"  # each student's server and kernel, peak RSS after Run All

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed here: `make test-hub` installs it in .venv-instructor.")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _e2e():
    """The browser test's helpers (Run All and what a student notebook may show), from e2e/test_jupyterlab.py."""
    return _load("e2e_jupyterlab", ROOT / "e2e" / "test_jupyterlab.py")


# The browser test's Chromium (path, flags, launch and skips) and its free-port helper, from e2e/conftest.py: one copy.
_BROWSER_TEST = _load("e2e_conftest", ROOT / "e2e" / "conftest.py")
_free_port = _BROWSER_TEST._free_port


def _proxy() -> str | None:
    local = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


def _our_processes(folder: Path) -> list[int]:
    """The processes working in ``folder`` (the students' servers and kernels run in their homes under it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if _proxy() is None:
        pytest.skip("configurable-http-proxy (npm) is not installed: `make test-hub` installs it with npm.")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("No workbook environment (.venv): run `make test-hub`.")
    state = tmp_path_factory.mktemp("hub")
    port = _free_port()
    password = secrets.token_urlsafe(16)
    bob_edit = state / "homes" / "bob" / "optimizing-the-input" / KEPT  # bob's edit before his first login
    bob_edit.parent.mkdir(parents=True)
    edited = nbformat.read(ROOT / "notebooks" / KEPT, as_version=4)
    edited.cells.insert(0, nbformat.v4.new_markdown_cell("bob's notes, written before his first login"))
    nbformat.write(edited, bob_edit)
    env = dict(os.environ, WORKBOOK_HUB_TEST=",".join(STUDENTS), WORKBOOK_HUB_PASSWORD=password,
               WORKBOOK_HUB_STATE=str(state), WORKBOOK_HUB_PORT=str(port), WORKBOOK_HUB_API_PORT=str(_free_port()),
               WORKBOOK_PROXY_API_PORT=str(_free_port()), WORKBOOK_DIR=str(ROOT),
               PATH=f"{Path(_proxy()).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log = state / "jupyterhub.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)], cwd=state, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HUB_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterHub exited ({process.returncode}) before it served; its log:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/hub/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterHub did not answer at {url} within {HUB_START_S} s; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "password": password, "state": state, "log": log, "bob_edit": bob_edit.read_bytes()}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the hub stops the students' servers and its proxy as it ends
            process.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in _our_processes(state):  # anything of ours the hub left behind, by its id
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def browser():
    yield from _BROWSER_TEST.headless_chromium("make test-hub")


def _log_in(browser, hub, student: str):
    """A browser context of the student's own (cookies), logged in, on their JupyterLab; returns ``(context, page)``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{hub['url']}/hub/login")
    page.fill("#username_input", student)
    page.fill("#password_input", hub["password"])
    page.click("#login_submit")
    try:
        page.wait_for_url(f"**/user/{student}/lab**", timeout=SPAWN_S * 1000)
    except Exception:
        pytest.fail(f"{student}'s server did not open JupyterLab within {SPAWN_S} s (at {page.url}); the hub's log:\n"
                    f"{hub['log'].read_text()[-3000:]}")
    page.close()  # one JupyterLab tab per student: the notebook's own, opened next
    return context


def _open_and_run(e2e, context, hub, student: str):
    """Open the student notebook in the student's JupyterLab, Run All; return the e2e Page."""
    page = context.new_page()
    nb = e2e.Page(page, f"{student}-{NOTEBOOK}")
    for attempt in range(3):
        page.goto(f"{hub['url']}/user/{student}/lab/workspaces/hub-test/tree/optimizing-the-input/{NOTEBOOK}?reset")
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        # The workbook's kernel, connected: once, on a loaded machine, JupyterLab dropped the session it had just
        # started (the server logged the kernel's start, then the page's DELETE) and showed "No Kernel".
        kernel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName")
        try:
            kernel.filter(has_text=KERNEL_DISPLAY_NAME).wait_for(timeout=60_000)
            break
        except Exception:
            print(f"{student}: the notebook opened without its kernel ({kernel.inner_text()!r}); opening it again")
    else:
        nb.fail(f"the notebook opened three times without the kernel {KERNEL_DISPLAY_NAME!r}")
    e2e._run_all(nb)
    return nb


def _save(nb, path: Path, wanted) -> nbformat.NotebookNode:
    nb.page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            saved = nbformat.read(path, as_version=4)
            if wanted(saved):
                return saved
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    nb.fail(f"saving (Ctrl+S) did not write what was expected to {path} within 30 s")


def _home(hub, student: str) -> Path:
    return hub["state"] / "homes" / student / "optimizing-the-input"


def test_two_students_two_servers_their_own_copies(hub, browser):
    e2e = _e2e()
    ran = lambda saved: any(c.get("outputs") for c in saved.cells if c.cell_type == "code")  # noqa: E731
    contexts = {}
    for student in STUDENTS:
        contexts[student] = _log_in(browser, hub, student)
        assert sorted(p.name for p in _home(hub, student).glob("*.ipynb")) == \
            sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")), f"{student}'s home lacks notebooks"
    assert (_home(hub, "bob") / KEPT).read_bytes() == hub["bob_edit"], "the spawn hook overwrote bob's edited notebook"
    assert (_home(hub, "alice") / KEPT).read_bytes() == (ROOT / "notebooks" / KEPT).read_bytes()

    # alice: run the notebook in her server, add a cell, save.
    nb = _open_and_run(e2e, contexts["alice"], hub, "alice")
    widgets = nb.page.evaluate(e2e.WIDGET_OUTPUTS_JS)
    saved = _save(nb, _home(hub, "alice") / NOTEBOOK, ran)
    problems = e2e.unfinished_noise(saved, widgets)
    assert not problems, f"alice's Run All of {NOTEBOOK}:\n" + "\n".join(problems)
    assert "device: " in "".join(o.get("text", "") for o in saved.cells[next(
        i for i, c in enumerate(saved.cells) if c.cell_type == "code")].outputs)  # the setup cell ran in her kernel
    nb.page.click(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell >> nth=0")
    nb.page.keyboard.press("Escape")
    nb.page.keyboard.press("a")  # a new cell above the first
    nb.page.keyboard.press("Enter")
    nb.page.keyboard.type(MARK)
    nb.page.keyboard.press("Escape")
    _save(nb, _home(hub, "alice") / NOTEBOOK, lambda s: MARK in s.cells[0].source)

    # bob: his copy has no sign of alice's edit; he runs it in his own server.
    assert MARK not in (_home(hub, "bob") / NOTEBOOK).read_text()
    nb_bob = _open_and_run(e2e, contexts["bob"], hub, "bob")
    assert MARK not in nb_bob.page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden)")
    widgets = nb_bob.page.evaluate(e2e.WIDGET_OUTPUTS_JS)
    saved_bob = _save(nb_bob, _home(hub, "bob") / NOTEBOOK, ran)
    problems = e2e.unfinished_noise(saved_bob, widgets)
    assert not problems, f"bob's Run All of {NOTEBOOK}:\n" + "\n".join(problems)
    assert MARK not in (_home(hub, "bob") / NOTEBOOK).read_text()
    assert MARK in (_home(hub, "alice") / NOTEBOOK).read_text()

    # Their own servers: bob's API answers bob; alice's cookies do not open bob's files.
    api = f"{hub['url']}/user/bob/api/contents/optimizing-the-input/{NOTEBOOK}"
    mine = contexts["bob"].request.get(api)
    assert mine.status == 200 and mine.json()["name"] == NOTEBOOK
    theirs = contexts["alice"].request.get(api, max_redirects=10)
    assert theirs.status in (401, 403), f"alice's browser got {theirs.status} from bob's server, not 403"

    # The grade command, pointed at the homes, finds each student's notebooks.
    from instructor.grade import find_submissions

    found, _, _ = find_submissions(hub["state"] / "homes")
    assert set(found) == set(STUDENTS) and all(NOTEBOOK.removesuffix(".ipynb") in per for per in found.values())
    # What each student's processes hold (a benchmark: never fails the test): the server and the kernel.
    usage = {}
    for pid in _our_processes(hub["state"]):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = Path(f"/proc/{pid}/status").read_text()
            home = Path(os.readlink(f"/proc/{pid}/cwd")).relative_to(hub["state"] / "homes").parts[0]
        except (OSError, ValueError, IndexError):
            continue
        kind = "server" if "jupyterhub.singleuser" in command else "kernel" if "ipykernel" in command else None
        if kind:
            peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
            usage.setdefault(home, {})[f"{kind}_peak_rss_mib"] = round(peak / 1024)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"notebook": NOTEBOOK, "students": usage}, indent=1) + "\n")
    print(json.dumps({"hub": hub["url"], "notebook": NOTEBOOK, "peak RSS": usage}))
    for context in contexts.values():
        context.close()
