"""The grader's second hardening (issue 31), one property per test, each on a small job run in the sandbox
(or on the grader's parts alone): no host root in the sandbox, a seccomp filter, memory and CPU bounded per
notebook, clocks the student cannot reset, feedback that leaks nothing of a hidden case, the grader's own
memory bounded, every file accounted for, a sandbox that never started named as the grader's failure, and
a clean interrupt. The sandbox tests skip with a one-line reason where bubblewrap (or a control group)
is unavailable.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_utils.exercises import Case, exercises_for
from instructor import jail
from instructor.grade import csv_cell, feedback_markdown, find_submissions, md_text, write_results
from instructor.run import Limits, NotebookGrade, run_sandbox, score

NO_BWRAP = jail.unavailable()
needs_bwrap = pytest.mark.skipif(NO_BWRAP is not None, reason=f"{NO_BWRAP} (the grader's sandbox tests need it)")
REPO = Path(__file__).resolve().parents[1]
BASE = "01_filters"


def _cell(source, limits=None, cells=None):
    """Run the setup cell ``pass`` then ``source`` (or ``cells``) in the sandbox; return the events and the seconds."""
    job = {"cells": [("setup", "pass")] + (cells or [("the cell", source)]), "skip_cells": [], "skip_exercises": [],
           "exercises": []}
    limits = limits or Limits(notebook_s=60, setup_s=60, exercise_s=30)
    events, t0 = [], None
    for event in run_sandbox(job, limits, time.monotonic() + limits.notebook_s):
        events.append(event)
        if event["event"] == "cell_end" and event["cell"] == 0:
            t0 = time.monotonic()  # the setup cell is done: the student's cells start
    return events, time.monotonic() - (t0 or time.monotonic())


def _reported(events):
    """What the cell reported by raising ``RuntimeError(json)``."""
    error = next(e for e in events if e["event"] == "cell_end" and e["cell"] == 1)["error"]
    assert error and error.startswith("RuntimeError: "), events
    return json.loads(error[len("RuntimeError: "):])


# ---------------------------------------------------------------------------- 1. no host root, a seccomp filter

_PRIVILEGES = r'''
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
found = {"uid": os.getuid(), "gid": os.getgid(), "map": open("/proc/self/uid_map").read().split()}
for key, path in (("core", "/proc/sys/kernel/core_pattern"), ("pid", "/proc/sys/kernel/pid_max"),
                  ("drop", "/proc/sys/vm/drop_caches"), ("huge", "/proc/sys/vm/nr_hugepages"),
                  ("oom", "/proc/self/oom_score_adj"), ("dev", "/dev/created-by-the-student")):
    try:
        with open(path, "a"):
            pass
        found[key] = "opened"
    except OSError as exc:
        found[key] = errno.errorcode[exc.errno]
def call(name, *args):
    return "allowed" if getattr(libc, name)(*args) >= 0 else errno.errorcode[ctypes.get_errno()]
found["userns"] = call("unshare", 0x10000000)
found["mntns"] = call("unshare", 0x00020000)
found["mount"] = call("mount", b"none", b"/sandbox", b"tmpfs", 0, None)
found["ptrace"] = call("ptrace", 0, 0, 0, 0)
found["keyctl"] = call("syscall", 250, 0, 0, 0, 0)
found["bpf"] = call("syscall", 321, 0, 0, 0)
found["uffd"] = call("syscall", 323, 0)
found["perf"] = call("syscall", 298, 0, 0, -1, -1, 0)
raise RuntimeError(json.dumps(found))
'''


def _host_uids_of_sandboxes() -> set[int]:
    """The real uids, as this machine sees them, of the sandboxed interpreters started by this process."""
    uids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
                status = open(f"/proc/{entry}/status").read()
            except OSError:
                continue
            if jail.SANDBOX_SCRIPT.encode() in args and not args[0].endswith(b"bwrap"):
                uids.add(int(status.split("\nUid:")[1].split()[0]))
    return uids


@needs_bwrap
def test_the_student_is_not_root_and_cannot_reach_the_host_kernel():
    import threading
    seen: set[int] = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.update(_host_uids_of_sandboxes())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        found = _reported(_cell("import time\ntime.sleep(1)\n" + _PRIVILEGES)[0])
    finally:
        done.set()
        watcher.join()
    if os.geteuid() == 0:  # the grader is root: the sandbox is an unprivileged uid of its own, on the host too
        assert seen and all(uid >= jail.SANDBOX_UID_BASE for uid in seen), seen
    assert found["uid"] != 0 and 0 not in seen
    for key in ("core", "pid", "drop", "huge", "oom", "dev"):  # /proc/sys/..., /proc/self/oom_score_adj, /dev/...
        assert found[key] in ("EROFS", "EACCES"), (key, found)
    for key in ("userns", "mntns", "mount", "ptrace", "keyctl", "bpf", "uffd", "perf"):  # unshare(CLONE_NEWUSER), ...
        assert found[key] == "EPERM", (key, found)


@needs_bwrap
def test_a_fork_and_threads_still_work_under_the_filter():
    source = ('import json, os, threading, subprocess\nt = threading.Thread(target=lambda: None); t.start(); t.join()\n'
              'pid = os.fork()\nif pid == 0:\n    os._exit(7)\ncode = os.waitpid(pid, 0)[1] >> 8\n'
              'out = subprocess.run(["/usr/bin/env", "true"]).returncode\n'
              'raise RuntimeError(json.dumps({"child": code, "subprocess": out}))\n')
    assert _reported(_cell(source)[0]) == {"child": 7, "subprocess": 0}


def test_the_seccomp_filter_refuses_namespaces_and_friends():
    try:
        program = jail.seccomp_program()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    assert len(program) % 8 == 0 and len(program) > 8 * len(jail.REFUSED_SYSCALLS)  # one BPF instruction = 8 bytes
    assert {"unshare", "setns", "mount", "ptrace", "keyctl", "bpf"} <= set(jail.REFUSED_SYSCALLS)


# ---------------------------------------------------------------------------- 2. memory and CPU per notebook

needs_memory_group = pytest.mark.skipif("memory" not in jail.cgroup_folders(),
                                        reason=f"{jail.missing_cgroups()} (the memory cgroup test needs one)")
needs_cpu_group = pytest.mark.skipif("cpu" not in jail.cgroup_folders(),
                                     reason=f"{jail.missing_cgroups()} (the cpu cgroup test needs one)")


@needs_bwrap
@needs_memory_group
def test_memfd_and_dev_shm_count_in_the_notebooks_memory():
    # 1.5 GB in memfds (outside the address-space limit) under a 1 GB notebook limit: the process is killed.
    hog = ("import os\nfds = []\nfor i in range(50):\n    fd = os.memfd_create(f'm{i}')\n"
           "    os.write(fd, b'x' * (30 << 20))\n    fds.append(fd)\nraise RuntimeError('kept 1.5 GB')\n")
    limits = Limits(notebook_s=60, setup_s=60, exercise_s=30, notebook_memory_mb=1024)
    events, _ = _cell(hog, limits)
    assert events[-1] == {"event": "stopped", "why": "memory"}, events
    # /dev/shm is a tmpfs of its own, sized (shm_mb), and /dev itself is read-only.
    shm = ("import json, os\nfound = {}\ntry:\n    with open('/dev/shm/x', 'wb') as f:\n        f.write(b'x' * (20 << 20))\n"
           "    found['shm'] = 'wrote 20 MB'\nexcept OSError as exc:\n    found['shm'] = exc.strerror\n"
           "s = os.statvfs('/dev/shm')\nfound['size_mb'] = s.f_blocks * s.f_frsize >> 20\n"
           "raise RuntimeError(json.dumps(found))\n")
    found = _reported(_cell(shm, Limits(notebook_s=60, setup_s=60, exercise_s=30, shm_mb=8))[0])
    assert found == {"shm": "No space left on device", "size_mb": 8}


@needs_bwrap
@needs_cpu_group
def test_a_notebooks_children_share_its_cpu_quota():
    # Three busy children for 3 s under a quota of half a core: together they get about half a core.
    busy = ("import json, os, resource, time\npids = []\nt0 = time.monotonic()\nfor _ in range(3):\n"
            "    pid = os.fork()\n    if pid == 0:\n        end = time.monotonic() + 3\n        while time.monotonic() < end:\n"
            "            pass\n        os._exit(0)\n    pids.append(pid)\nfor pid in pids:\n    os.waitpid(pid, 0)\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "raise RuntimeError(json.dumps({'cores': (u.ru_utime + u.ru_stime) / (time.monotonic() - t0)}))\n")
    found = _reported(_cell(busy, Limits(notebook_s=60, setup_s=60, exercise_s=30, cpus=0.5))[0])
    assert found["cores"] < 0.7, found


# ---------------------------------------------------------------------------- 3. the grader's own process

def test_a_huge_cell_is_neither_parsed_by_the_grader_nor_run(tmp_path, monkeypatch):
    import instructor.run as run
    exercises = exercises_for(BASE)
    nb = nbformat.read(REPO / "notebooks" / f"{BASE}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("HUGE = [" + "1, " * 700_000 + "]\n"))  # 2 MB of constants
    nbformat.write(nb, tmp_path / "nb.ipynb")
    jobs = []

    def fake_sandbox(job, *args, **kwargs):
        jobs.append(job)
        yield {"event": "done"}

    monkeypatch.setattr(run, "run_sandbox", fake_sandbox)
    plan = {ex.id: ([], []) for ex in exercises}
    tracemalloc.start()
    try:
        grade = run.grade_notebook("ann", BASE, tmp_path / "nb.ipynb", exercises, plan, "pass", Limits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"grading a 2 MB cell took {peak >> 20} MB in the grader"  # its AST alone takes ~1 GB
    assert any(f"cell {len(nb.cells)} is larger than 256 KB" in note for note in grade.notes), grade.notes
    assert not any("HUGE" in source for _, source in jobs[0]["cells"])


@needs_bwrap
@needs_memory_group
def test_a_huge_constants_cell_does_not_take_the_grader_down_under_a_memory_limit(tmp_path):
    # An 8 MB cell of constants: its AST alone took the grader from 0.9 GB to 4.6 GB before. Here the whole
    # run (the grader and its sandboxes) is held to 2.5 GB; it ends with the CSV, full marks and a note.
    import uuid
    nb = nbformat.read(REPO / "solutions" / f"{BASE}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("HUGE = [" + "1, " * 2_800_000 + "]\n"))
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "ann" / f"{BASE}.ipynb")
    base, version = jail.cgroup_folders()["memory"]
    group = base / f"grade-test-{uuid.uuid4().hex[:12]}"
    group.mkdir()
    try:
        (group / ("memory.limit_in_bytes" if version == 1 else "memory.max")).write_text(str(2500 << 20))
        run = subprocess.run([sys.executable, "-m", "instructor.grade", str(tmp_path / "subs"), "--out",
                              str(tmp_path / "g.csv"), "--seeds", "1,2"], cwd=REPO, capture_output=True, text=True,
                             timeout=600, preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.2)
        group.rmdir()
    assert run.returncode == 0, run.stderr[-2000:]
    row = next(csv.DictReader((tmp_path / "g.csv").open(encoding="utf-8")))
    assert int(row["total"]) == int(row["max"]) and "is larger than 256 KB" in row["notes"], row


@needs_bwrap
def test_an_event_line_is_capped_far_below_the_array_payloads():
    flood = "import os\nfor fd in range(3, 16):\n    try:\n        os.write(fd, b'{\"event\": ' + b'1' * (2 << 20))\n    except OSError:\n        pass\nimport time\ntime.sleep(5)\n"
    events, _ = _cell(flood, Limits(notebook_s=60, setup_s=60, exercise_s=20, event_kb=1024, message_mb=64))
    assert events[-1] == {"event": "stopped", "why": "too-much-message"}, events


# ---------------------------------------------------------------------------- 4. clocks

@needs_bwrap
def test_a_cell_that_forges_the_next_steps_in_order_is_stopped_at_its_limit():
    # The forging cell ends its own step and starts the next ones, each within the 2 s a step may take;
    # it would run 9 s. The student's cells have 2 s together, from the grader's own "go".
    forge = ("import os, time\nfor step in range(1, 7):\n    for fd in range(3, 16):\n        try:\n"
             "            os.write(fd, b'{\"event\": \"cell_end\", \"cell\": %d, \"error\": null}\\n' % step)\n"
             "            os.write(fd, b'{\"event\": \"cell_start\", \"cell\": %d}\\n' % (step + 1))\n"
             "        except OSError:\n            pass\n    time.sleep(1.5)\n")
    cells = [("the forging cell", forge)] + [(f"cell {i}", "pass") for i in range(2, 8)]
    events, seconds = _cell(None, Limits(notebook_s=60, setup_s=60, exercise_s=2), cells=cells)
    assert events[-1]["event"] == "stopped" and events[-1]["why"].startswith("timeout"), events
    assert seconds < 4, f"the forging cell ran {seconds:.1f} s under a 2 s limit"


# ---------------------------------------------------------------------------- 5. feedback

def test_a_hidden_case_shows_only_whether_it_passed_and_a_category():
    ex = next(e for e in exercises_for(BASE) if e.function == "conv_parameter_count")
    cases = [("visible", Case("a visible case", {"in_channels": 1, "out_channels": 2, "kernel_size": 3})),
             ("hidden", Case("hidden: 3 -> 17, 5x5", {"in_channels": 3, "out_channels": 17, "kernel_size": 5})),
             ("hidden", Case("hidden b", {"in_channels": 1, "out_channels": 1, "kernel_size": 1})),
             ("hidden", Case("hidden c", {"in_channels": 1, "out_channels": 1, "kernel_size": 1})),
             ("hidden", Case("hidden d", {"in_channels": 1, "out_channels": 1, "kernel_size": 1}))]
    expected = [[("int", np.array(20))], [("int", np.array(1292))], [("int", np.array(2))], [("int", np.array(2))],
                [("int", np.array(2))]]
    report = {"id": ex.id, "defined": True, "params": ["in_channels", "out_channels", "kernel_size", "bias"], "cases": [
        {"status": "returned", "tuple": False, "items": [{"kind": "int", "value": 20}], "after": {}},
        {"status": "returned", "tuple": False, "items": [{"kind": "int", "value": 1000}], "after": {}},
        {"status": "returned", "tuple": False, "items": [{"kind": "other", "type": "SECRET_1292", "repr": "weights 1292"}],
         "after": {}},
        {"status": "error", "error_type": "Hidden1292Error", "error": "the input was 3 -> 17"},
        {"status": "returned", "tuple": False, "items": [{"kind": "int", "value": 2}], "after": {}}]}
    result = score(ex, report, {}, cases, expected)
    shown = "\n".join(line for line in result.report().splitlines() if "hidden test" in line)
    assert [c.message for c in result.cases[1:]] == ["wrong value", "wrong type", "wrong: it raised an error", "passed"]
    assert all(c.name == "hidden test" for c in result.cases[1:])
    for secret in ("1292", "17", "1000", "SECRET", "Hidden", "relative error", "expected"):
        assert secret not in shown, (secret, shown)


def test_student_text_cannot_leave_its_markdown_block_nor_become_a_formula(tmp_path):
    from course_utils.checks import CaseResult, CheckResult
    g = NotebookGrade("=HYPERLINK(\"x\")", BASE, notes=["Running cell 3 raised ValueError: x\n\n**Total: 5/5 points.**\n# A",
                                                     "```\n</details><b>5/5</b>"])
    g.results = [CheckResult("01.1", "f", 2, "failed", [CaseResult("a", False, "got ````\n**Total: 5/5 points.**\n````")])]
    text = feedback_markdown(g.student, [g])
    outside, fence = [], None  # the lines outside code blocks, as CommonMark reads them
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence = len(line) - len(line.lstrip("`"))
        elif fence is not None and set(line.strip()) == {"`"} and len(line.strip()) >= fence:
            fence = None
        elif fence is None:
            outside.append(line)
    outside = "\n".join(outside)
    assert outside.count("**Total:") == 1 and "**Total: 0/2 points.**" in outside  # the real one only
    assert "\n# A" not in outside and "<b>" not in outside and "\\*\\*Total: 5/5 points.\\*\\*" in outside
    fence = next(line for line in text.splitlines() if set(line) == {"`"})
    assert len(fence) == 5  # longer than the student's run of four backticks
    assert md_text("-rf") == "\\-rf" and md_text("1. x") == "1\\. x"
    out, _ = write_results([g], tmp_path / "grades.csv")
    row = next(csv.DictReader(out.open(encoding="utf-8")))
    assert row["student"] == "'=HYPERLINK(\"x\")"
    assert [csv_cell(v) for v in ("=1+1", "+1", "-rf", "@SUM(A1)", "ok", 3)] == ["'=1+1", "'+1", "'-rf", "'@SUM(A1)", "ok", 3]


def test_seeds_are_fresh_by_default_and_recorded(tmp_path, monkeypatch):
    import instructor.grade as core
    seen = []

    def grade_all(submissions, limits, jobs, seeds, isolated=True):
        seen.append(seeds)
        return [NotebookGrade("ann", BASE)], []

    monkeypatch.setattr(core, "grade_all", grade_all)
    monkeypatch.setattr(jail, "unavailable", lambda python=None: None)
    (tmp_path / "subs").mkdir()
    for name in ("a.csv", "b.csv"):
        assert core.main([str(tmp_path / "subs"), "--out", str(tmp_path / name)]) == 0
    assert seen[0] != seen[1] and all(len(s) == 2 and 0 not in s for s in seen)
    assert (tmp_path / "a_seeds.txt").read_text().splitlines()[0] == ",".join(map(str, seen[0]))
    assert core.main([str(tmp_path / "subs"), "--out", str(tmp_path / "c.csv"), "--seeds", "5,6"]) == 0
    assert seen[2] == (5, 6)


# ---------------------------------------------------------------------------- 6. every file accounted for

def test_every_file_is_graded_or_listed_and_names_stay_as_they_are(tmp_path):
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / f"zed_{BASE}.ipynb").write_text("{}")
    (tmp_path / f".dot_{BASE}.ipynb").write_text("{}")
    (tmp_path / f"-rf_{BASE}.ipynb").write_text("{}")
    (tmp_path / f"rf_{BASE}.ipynb").write_text("{}")
    (tmp_path / f"ann_{BASE}_02_activations.ipynb").write_text("{}")
    (tmp_path / f"bob_{BASE}_v2.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    found, unmatched, _ = find_submissions(tmp_path)
    assert sorted(found) == ["-rf", "rf"]
    listed = "\n".join(unmatched)
    assert ".hidden/ (a folder whose name begins with a dot: not searched)" in listed
    assert f".dot_{BASE}.ipynb (its name begins with a dot: not graded)" in listed
    assert f"ann_{BASE}_02_activations.ipynb (its name holds 2 notebook names" in listed
    assert f"bob_{BASE}_v2.ipynb (the student's name must come before or after {BASE}" in listed
    assert "notes.txt (not a notebook: not graded)" in listed


# ---------------------------------------------------------------------------- 7. failures named, interrupts clean

@needs_bwrap
def test_a_sandbox_that_never_starts_is_the_graders_failure(monkeypatch):
    import instructor.grade as core
    original = jail.Sandbox._command

    def broken(self, *args):
        argv = original(self, *args)
        return argv[:1] + ["--no-such-option"] + argv[1:]

    monkeypatch.setattr(jail.Sandbox, "_command", broken)
    exercises = exercises_for(BASE)
    g = core.grade_safely("ann", BASE, REPO / "notebooks" / f"{BASE}.ipynb", exercises,
                          {ex.id: ([], []) for ex in exercises}, "pass", Limits(), sys.executable, True)
    assert g.grading_failed and "the sandbox never started" in g.grading_failed
    assert "bwrap: Unknown option --no-such-option" in g.notes[0] and "not of the notebook" in g.notes[0]


def test_a_grading_failure_makes_the_run_fail(tmp_path, monkeypatch, capsys):
    import instructor.grade as core
    failed = NotebookGrade("ann", BASE, grading_failed="the sandbox never started (bwrap: no)")
    monkeypatch.setattr(core, "grade_all", lambda *args, **kwargs: ([failed, NotebookGrade("bob", BASE)], []))
    monkeypatch.setattr(jail, "unavailable", lambda python=None: None)
    (tmp_path / "subs").mkdir()
    assert core.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")]) == 3
    assert (tmp_path / "g.csv").exists()
    assert "1 notebooks could not be graded, through no fault of theirs" in capsys.readouterr().err


@needs_bwrap
def test_the_first_interrupt_stops_grading_and_keeps_what_was_graded(tmp_path):
    subs = tmp_path / "subs"
    nb = nbformat.read(REPO / "solutions" / f"{BASE}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def hidden_unit_line(" in c.source)
    cell.source = "import time\ntime.sleep(600)\n\n" + cell.source
    for student in ("ann", "bob", "cyd"):
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / f"{BASE}.ipynb")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "instructor.grade", str(subs), "--out", str(tmp_path / "g.csv"),
                             "--jobs", "1", "--exercise-timeout", "600", "--notebook-timeout", "900"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(tmp_path / "tmp")))
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not _sandboxes_of(proc.pid) and proc.poll() is None:
            time.sleep(0.5)
        assert _sandboxes_of(proc.pid), f"no sandbox started: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "interrupted (SIGINT)" in err and "Traceback" not in err
    assert (tmp_path / "g.csv").exists() and "not graded: the run was interrupted" in err
    assert not list((tmp_path / "tmp").glob("grade-*"))  # temp dirs removed
    assert not any(name.startswith(f"grade-{proc.pid}-") for folder, _ in jail.cgroup_folders().values()
                   for name in os.listdir(folder))  # control groups removed


def _sandboxes_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
                parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid and args and args[0].endswith(b"bwrap"):
                found.append(int(entry))
    return found


def test_without_control_groups_the_run_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import instructor.grade as core
    monkeypatch.setattr(core, "grade_all", lambda *args, **kwargs: ([NotebookGrade("ann", BASE)], []))
    monkeypatch.setattr(jail, "unavailable", lambda python=None: None)
    monkeypatch.setattr(jail, "cgroup_folders", lambda: {})
    (tmp_path / "subs").mkdir()
    assert core.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no pids, memory, cpu control group per notebook" in warnings[0], warnings
    assert "memory is capped per process" in warnings[0] and "without a quota" in warnings[0]
