"""Where a student's process runs: a bubblewrap sandbox, and a cap on its number of processes.

``command`` builds the ``bwrap`` command line (new PID, network, IPC, UTS and mount namespaces, no
capabilities, killed with the grader): the process sees the interpreter and the virtual environment
read-only (the environment at ``/opt/venv``), its own read-only student-side ``course_utils`` +
``data/`` at ``/course``, the sandbox
script, a fresh ``/proc`` of its own PID namespace, a minimal ``/dev``, and a size-limited ``tmpfs``
at ``/sandbox`` (also ``/tmp``) as its working directory. Nothing else of the machine exists there: not
the repository, not ``solutions/``, not the submissions, not the output folder, not the grader's
``/proc``.

``ProcessCap`` puts the process and everything it starts in a ``pids`` control group of its own
(when the grader runs as root and the ``pids`` controller is mounted writable): at most
``limit`` processes and threads at once, and every one of them is killed when grading ends, even
one that left its session. Elsewhere it falls back to ``RLIMIT_NPROC``, which counts per user.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

SANDBOX_SCRIPT = "/opt/grader/sandbox.py"  # where the sandbox script appears inside the sandbox
STUDENT_SIDE = "/course"  # where the student-side course_utils/ and data/ appear
WORK = "/sandbox"  # the process's working directory: a size-limited tmpfs, also seen as /tmp

INSTALL_HINT = "install it (`apt-get install bubblewrap`, which `make grade` does when run as root)"


def _system_mounts() -> list[str]:
    """``/usr`` read-only, and ``/bin``, ``/lib``, ... as they are here (links into ``/usr`` or folders)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


VENV = "/opt/venv"  # where a virtual environment appears inside the sandbox


def _python_mounts(python: str) -> tuple[list[str], str]:
    """The interpreter's installation, read-only at its own path, and the virtual environment that
    ``python`` belongs to, read-only at ``/opt/venv`` (so that the repository's path, if it holds the
    environment, is not even an empty folder there); and the interpreter's path inside the sandbox."""
    args = []
    base = os.path.realpath(sys.base_prefix)
    installed = os.path.dirname(os.path.dirname(os.path.realpath(python)))
    for path in sorted({base, installed}):
        if path and path != "/" and os.path.isdir(path) and not path.startswith("/usr/"):
            args += ["--ro-bind", path, path]
    venv = Path(python).absolute().parent.parent
    if (venv / "pyvenv.cfg").exists():
        return args + ["--ro-bind", str(venv), VENV], f"{VENV}/bin/{Path(python).name}"
    return args, python


def command(python: str, script: str, student_side: str, work_mb: int, extra_ro: tuple[str, ...] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``python -I script /course`` in the sandbox."""
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--size", str(work_mb * 1024 * 1024), "--tmpfs", WORK, "--symlink", WORK, "/tmp"]
    mounts, interpreter = _python_mounts(python)
    args += _system_mounts() + mounts
    for path in extra_ro:
        if os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind", student_side, STUDENT_SIDE, "--ro-bind", script, SANDBOX_SCRIPT,
             "--proc", "/proc", "--dev", "/dev", "--chdir", WORK]
    return args + ["--", interpreter, "-I", SANDBOX_SCRIPT, STUDENT_SIDE]


_PROBED: dict[str, str | None] = {}


def unavailable(python: str = sys.executable) -> str | None:
    """None when bubblewrap can run ``python`` here, else why not (one sentence)."""
    if python in _PROBED:
        return _PROBED[python]
    reason = None
    if shutil.which("bwrap") is None:
        reason = f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    else:
        probe = Path(__file__).resolve()  # any readable file stands in for the sandbox script and the student side
        cmd = command(python, str(probe), str(probe.parent), 16)
        cmd[cmd.index("-I") + 1:] = ["-c", f"import os; assert os.getcwd() == {WORK!r}"]
        cmd.remove("-I")
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            if run.returncode != 0:
                last = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1][:200]
                reason = f"bubblewrap (bwrap) cannot make a sandbox here ({last})"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"bubblewrap (bwrap) cannot run here ({type(exc).__name__}: {exc})"
    _PROBED[python] = reason
    return reason


# ---------------------------------------------------------------------------- the process cap

def _pids_base() -> Path | None:
    """The ``pids`` control group folder this process belongs to, if it can be written."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            base = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
            if base.is_dir() and os.access(base, os.W_OK):
                return base
    for line in lines:  # cgroup v2
        if line.startswith("0::"):
            base = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            try:
                if "pids" in (base / "cgroup.subtree_control").read_text().split() and os.access(base, os.W_OK):
                    return base
            except OSError:
                pass
    return None


def _tasks_of_this_user() -> int:
    """How many processes and threads this user runs now (what ``RLIMIT_NPROC`` counts)."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
                if int(fields["Uid"].split()[0]) == uid:
                    count += int(fields["Threads"])
            except (OSError, KeyError, ValueError):
                pass
    return count


class ProcessCap:
    """At most ``limit`` processes (threads included) for one student's process and its descendants.

    With a writable ``pids`` control group (root), ``folder`` is a fresh group that the child joins
    before it runs anything (``enter``, in the child), and ``close`` kills every process still in it.
    Without one, ``enter`` sets ``RLIMIT_NPROC`` to what this user runs now plus ``limit`` (it counts
    per user, so it caps the student's processes only roughly; it is never enforced for root).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.folder: Path | None = None
        self.nproc = None
        base = _pids_base()
        if base is not None:
            folder = base / f"grade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
            try:
                folder.mkdir()
                (folder / "pids.max").write_text(str(limit))
                self.folder = folder
            except OSError:
                try:
                    folder.rmdir()
                except OSError:
                    pass
        if self.folder is None and os.getuid() != 0:
            self.nproc = _tasks_of_this_user() + limit

    @property
    def kind(self) -> str:
        return "a pids control group" if self.folder else "RLIMIT_NPROC"

    def enter(self) -> None:
        """In the child, before exec: join the group (or set RLIMIT_NPROC)."""
        import resource
        if self.folder is not None:
            with open(self.folder / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
        elif self.nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))

    def pids(self) -> list[int]:
        if self.folder is None:
            return []
        try:
            return [int(p) for p in (self.folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def close(self) -> None:
        """Kill every process left in the group and remove it."""
        if self.folder is None:
            return
        for _ in range(200):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        for _ in range(100):
            try:
                self.folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
