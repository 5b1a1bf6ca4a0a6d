"""Fixtures of the browser test: a JupyterLab started as `make lab` starts it, and headless Chromium.

Playwright for Python drives Debian's Chromium (/usr/bin/chromium): Playwright's own browser download
needs the internet. `make test-browser` installs both when it can; where either is missing the tests
skip with a one-line reason.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAB_START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode} before it served; its log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {LAB_START_TIMEOUT} s; its log:\n{log.read_text()[-3000:]}")


def headless_chromium(target: str = "make test-browser"):
    """Debian's Chromium under Playwright, headless, as a generator for a fixture (also hub/test_hub.py's, whose
    ``target`` is ``make test-hub``); skips with one line naming ``target`` where Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"Playwright for Python is not installed ({target} installs it with pip).")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"No Chromium at {CHROMIUM} (as root, {target} installs Debian's chromium package).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser():
    yield from headless_chromium("make test-browser")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Start `make lab` on a copy of solutions/ and notebooks/ (so autosave never writes outputs into the repository).

    Yields the base URL and token; stops JupyterLab (its whole process group) afterwards, also on failure.
    """
    workdir = tmp_path_factory.mktemp("lab")
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, workdir / folder)
    port, token = _free_port(), secrets.token_hex(16)
    log = workdir / "jupyterlab.log"
    # Workspaces in the temporary folder too: nothing from an earlier run (open tabs, kernels) is restored.
    lab_args = (f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0 "
                f"--LabApp.workspaces_dir={workdir / 'workspaces'}")
    with open(log, "w") as out:
        process = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_DIR={workdir}", f"LAB_ARGS={lab_args}"],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", process, log)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "dir": workdir}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pytest_terminal_summary(terminalreporter):
    """After the browser test: each notebook's control latency (from bench/results/sliders.json), over-budget ones named."""
    import json

    path = ROOT / "bench" / "results" / "sliders.json"
    if not path.is_file():
        return
    try:
        results = json.loads(path.read_text())
    except ValueError:
        return
    write = terminalreporter.write_line
    write("")
    write("Control latency, key press to new picture, timed in the page (budget: median < 250 ms, none over 1 s;")
    write("bench/results/sliders.json; 'polled' adds the test's own Playwright round trips and polling):")
    write(f"{'notebook':28s} {'controls':>8s} {'median ms':>10s} {'max ms':>8s} {'polled median/max':>18s}  slowest")
    for name, entry in results.items():
        flag = "" if (entry["median_ms"] or 0) < 250 and not entry["over_1s"] else "  OVER BUDGET"
        polled = f"{entry.get('polled_median_ms', '-')}/{entry.get('polled_max_ms', '-')}"
        write(f"{name:28s} {entry['controls']:8d} {str(entry['median_ms']):>10s} {str(entry['max_ms']):>8s} {polled:>18s}  "
              f"{entry['slowest']}{flag}")
        for control in entry["over_1s"]:
            write(f"    over 1 s: {control}")
