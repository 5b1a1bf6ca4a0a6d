"""Where a student's process runs: a bubblewrap sandbox, as an unprivileged user, under a seccomp
filter, in control groups of its own.

``Sandbox`` builds the ``bwrap`` command line (new user, PID, network, IPC, UTS and mount namespaces, no
capabilities, no further user namespaces, killed with the grader): the process sees the interpreter and
the virtual environment read-only (the environment at ``/opt/venv``), its own read-only student-side
``course_utils`` + ``data/`` at ``/course``, the sandbox script, a read-only ``/proc`` of its own PID
namespace, a read-only minimal ``/dev`` with a size-limited ``/dev/shm``, and a size-limited ``tmpfs``
at ``/sandbox`` (also ``/tmp``) as its working directory. Nothing else of the machine exists there: not
the repository, not ``solutions/``, not the submissions, not the output folder, not the grader's
``/proc``.

When the grader runs as root, ``bwrap`` itself runs as an unprivileged uid of its own (``SANDBOX_UID_BASE``
plus a slot, one per sandbox alive, no user of this machine), so the student's process is that uid on the
host too, never root: ``/proc/sys`` and everything else of the host owned by root stay out of its reach.
The paths only root can reach (a Python installed under ``/root``) are opened by the grader and handed
to ``bwrap`` as file descriptors (``--ro-bind-fd``). A seccomp filter, compiled with libseccomp
(``pyseccomp``) and loaded by ``bwrap --seccomp`` just before the student's interpreter starts, refuses
the system calls that reach the kernel's less trodden paths: new namespaces (``unshare``, ``setns``,
``clone`` with a namespace flag), mounts, ``ptrace`` and the other process-memory calls, keyrings,
``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, module and ``kexec`` loading, clock setting,
and ``TIOCSTI``.

``ControlGroups`` puts the process and everything it starts in control groups of its own (when the
grader runs as root and the controllers are mounted writable, cgroup v1 or v2): ``pids`` (at most
``Limits.processes`` at once, and every one of them killed when grading ends, even one that left its
session), ``memory`` (everything the notebook holds, its processes, its ``tmpfs`` files, ``/dev/shm`` and
memfds included) and ``cpu`` (a quota of ``Limits.cpus`` cores). Elsewhere it falls back to
``RLIMIT_NPROC`` (which counts per user) and says which limits it could not set (``missing``).
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

SANDBOX_SCRIPT = "/opt/grader/sandbox.py"  # where the sandbox script appears inside the sandbox
STUDENT_SIDE = "/course"  # where the student-side course_utils/ and data/ appear
WORK = "/sandbox"  # the process's working directory: a size-limited tmpfs, also seen as /tmp
VENV = "/opt/venv"  # where a virtual environment appears inside the sandbox
SHM_MB = 64  # the size of the sandbox's /dev/shm
SANDBOX_UID_BASE = 1_800_000_000  # uids of the sandboxes when the grader runs as root: no user of this machine

INSTALL_HINT = "install it (`apt-get install bubblewrap`, which `make grade` does when run as root)"


# ---------------------------------------------------------------------------- who the sandbox runs as

_UID_LOCK = threading.Lock()
_UIDS_IN_USE: set[int] = set()


def _take_uid() -> int | None:
    """A uid for one sandbox when the grader runs as root (None otherwise): distinct for every sandbox alive
    in this grader (and, by its process id, from another grader's), owned by no user of this machine."""
    if os.geteuid() != 0:
        return None
    import pwd
    base = SANDBOX_UID_BASE + (os.getpid() % 100_000) * 1000
    with _UID_LOCK:
        for slot in range(1000):
            uid = base + slot
            if uid in _UIDS_IN_USE:
                continue
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            _UIDS_IN_USE.add(uid)
            return uid
    raise RuntimeError("more than 1000 sandboxes alive at once")


def _give_uid(uid: int | None) -> None:
    with _UID_LOCK:
        _UIDS_IN_USE.discard(uid)


# ---------------------------------------------------------------------------- the seccomp filter

# Refused with EPERM: what a notebook never needs and a kernel exploit often does.
REFUSED_SYSCALLS = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "kcmp", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "open_by_handle_at", "name_to_handle_at", "quotactl", "quotactl_fd", "swapon", "swapoff",
    "reboot", "acct", "syslog", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "lookup_dcookie", "vhangup", "personality", "uselib", "fanotify_init", "setdomainname", "sethostname")
CLONE_NAMESPACES = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                    "CLONE_NEWNET": 0x40000000, "CLONE_NEWTIME": 0x00000080}
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

_SECCOMP: dict[str, object] = {}


def seccomp_program() -> bytes:
    """The compiled filter (BPF) that ``bwrap --seccomp`` loads: everything allowed but the calls above, which
    fail with EPERM (``clone3`` with ENOSYS: its flags are out of the filter's reach, and the C library then
    uses ``clone``, whose flags are checked). Other architectures' calls (x32, i386) kill the process.
    Raises RuntimeError, in one sentence, where libseccomp cannot be loaded."""
    if "program" in _SECCOMP:
        return _SECCOMP["program"]
    if "error" in _SECCOMP:
        raise RuntimeError(_SECCOMP["error"])
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, AttributeError, TypeError) as exc:  # pyseccomp missing, or libseccomp.so.2
        _SECCOMP["error"] = (f"the seccomp filter cannot be built ({type(exc).__name__}: {str(exc)[:120]}): "
                             "run `make test` or `make grade`, which install pyseccomp (and `apt-get install "
                             "libseccomp2` if it is missing)")
        raise RuntimeError(_SECCOMP["error"]) from None
    import tempfile
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in REFUSED_SYSCALLS:
        try:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):
            pass  # a call this kernel or libseccomp does not know
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NAMESPACES.values():
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for request in (TIOCSTI, TIOCLINUX):
        f.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        _SECCOMP["program"] = out.read()
    return _SECCOMP["program"]


def _memfd(data: bytes, name: str) -> int:
    fd = os.memfd_create(name, 0)  # inherited only through pass_fds
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# ---------------------------------------------------------------------------- the bwrap command line

def _system_mounts() -> list[str]:
    """``/usr`` read-only, and ``/bin``, ``/lib``, ... as they are here (links into ``/usr`` or folders)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 4096, 16384, 1 << 18


def _others_can_reach(path: str) -> bool:
    """Whether a user who owns nothing here can open ``path`` (every folder above it searchable by others)."""
    import stat as st
    path = os.path.abspath(path)
    parts = path.split("/")
    try:
        for i in range(2, len(parts) + 1):
            folder = "/".join(parts[:i]) or "/"
            mode = os.stat(folder).st_mode
            if st.S_ISDIR(mode) and not mode & st.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
        return bool(mode & st.S_IROTH)
    except OSError:
        return False


_HELP: dict[str, str] = {}


def _bwrap_supports(bwrap: str, option: str) -> bool:
    if bwrap not in _HELP:
        try:
            _HELP[bwrap] = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            _HELP[bwrap] = ""
    return f"{option} " in _HELP[bwrap]


class Sandbox:
    """One start of ``bwrap``: its command line (``argv``), the file descriptors it must inherit
    (``fds``, for ``pass_fds``), and ``enter()``, which the child calls last before it runs ``bwrap``
    (drop root for the sandbox's uid). ``close()`` when the process is gone."""

    def __init__(self, python: str, script: str, student_side: str, work_mb: int, extra_ro: tuple[str, ...] = (),
                 shm_mb: int = SHM_MB, argv: list[str] | None = None):
        self.fds: list[int] = []
        self.hidden: list[tuple[str, str]] = []
        self.stage: str | None = None
        self.uid = _take_uid()
        try:
            self.argv = self._command(python, script, student_side, work_mb, extra_ro, shm_mb, argv)
        except BaseException:
            self.close()
            raise

    def _bind(self, source: str, dest: str) -> list[str]:
        """Read-only bind of ``source`` at ``dest``. As root, a ``source`` that the sandbox's uid cannot reach by its
        path (a Python installed under ``/root``, say) is first bound, in a mount namespace of the child's own
        (``enter``), on an empty folder or file made here that it can reach; the machine's mounts never change."""
        if self.uid is None or _others_can_reach(source):
            return ["--ro-bind", source, dest]
        if self.stage is None:  # in a folder the sandbox's uid can reach (not a TMPDIR only root can)
            where = next((d for d in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm") if _others_can_reach(d)), None)
            self.stage = tempfile.mkdtemp(prefix="grade-mounts-", dir=where)
            os.chmod(self.stage, 0o711)
        point = os.path.join(self.stage, str(len(self.hidden)))
        if os.path.isdir(source):
            os.mkdir(point, 0o755)
        else:
            open(point, "x").close()
            os.chmod(point, 0o644)
        self.hidden.append((source, point))
        return ["--ro-bind", point, dest]

    def _command(self, python, script, student_side, work_mb, extra_ro, shm_mb, argv) -> list[str]:
        bwrap = shutil.which("bwrap") or "bwrap"
        args = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--hostname", "sandbox"]
        if _bwrap_supports(bwrap, "--disable-userns"):  # bubblewrap 0.8; the seccomp filter refuses unshare anyway
            args.append("--disable-userns")
        args += ["--size", str(work_mb * 1024 * 1024), "--tmpfs", WORK, "--symlink", WORK, "/tmp"]
        args += _system_mounts()
        base = os.path.realpath(sys.base_prefix)
        installed = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        for path in sorted({base, installed}):
            if path and path != "/" and os.path.isdir(path) and not path.startswith("/usr/"):
                args += self._bind(path, path)
        interpreter = python
        venv = Path(python).absolute().parent.parent
        if (venv / "pyvenv.cfg").exists():  # the repository's path, if it holds the environment, is not even an empty folder there
            args += self._bind(str(venv), VENV)
            interpreter = f"{VENV}/bin/{Path(python).name}"
        for path in extra_ro:
            if os.path.isdir(path):
                args += self._bind(path, path)
        args += self._bind(student_side, STUDENT_SIDE) + self._bind(script, SANDBOX_SCRIPT)
        args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev",
                 "--size", str(shm_mb * 1024 * 1024), "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--chdir", WORK]
        fd = _memfd(seccomp_program(), "grader-seccomp")
        self.fds.append(fd)
        args += ["--seccomp", str(fd)]
        return args + ["--", interpreter] + (argv if argv is not None else ["-I", SANDBOX_SCRIPT, STUDENT_SIDE])

    def enter(self) -> None:
        """In the child, last before ``bwrap`` runs: bind what the sandbox's uid cannot reach where it can (in a
        mount namespace of the child's own), then become that uid (no supplementary groups)."""
        if self.hidden:
            if _LIBC.unshare(CLONE_NEWNS) != 0 or _LIBC.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "cannot make a private mount namespace for the sandbox")
            for source, point in self.hidden:
                if _LIBC.mount(os.fsencode(source), os.fsencode(point), None, MS_BIND | MS_REC, None) != 0:
                    raise OSError(ctypes.get_errno(), f"cannot bind {source} for the sandbox")
        if self.uid is not None:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        _give_uid(self.uid)
        self.uid = None

    def cleanup(self) -> None:
        """When the process has ended: remove the folder of mount points."""
        self.close()
        if self.stage:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None


def command(python: str, script: str, student_side: str, work_mb: int, extra_ro: tuple[str, ...] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``python -I script /course`` in the sandbox, for an ordinary user
    (as root use ``Sandbox``, which also hands over descriptors and drops root)."""
    box = Sandbox(python, script, student_side, work_mb, extra_ro)
    box.cleanup()
    return box.argv


_PROBED: dict[str, str | None] = {}


def unavailable(python: str = sys.executable) -> str | None:
    """None when bubblewrap can run ``python`` here as the grader runs it (unprivileged uid, seccomp filter),
    else why not (one sentence)."""
    if python in _PROBED:
        return _PROBED[python]
    reason = None
    if shutil.which("bwrap") is None:
        reason = f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    else:
        probe = Path(__file__).resolve()  # any readable file stands in for the sandbox script and the student side
        try:
            box = Sandbox(python, str(probe), str(probe.parent), 16, argv=["-c", f"import os; assert os.getcwd() == {WORK!r}"])
        except RuntimeError as exc:
            reason = str(exc)
        else:
            try:
                run = subprocess.run(box.argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                                     pass_fds=box.fds, preexec_fn=box.enter)
                if run.returncode != 0:
                    last = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1][:200]
                    reason = f"bubblewrap (bwrap) cannot make a sandbox here ({last})"
            except (OSError, subprocess.SubprocessError) as exc:
                reason = f"bubblewrap (bwrap) cannot run here ({type(exc).__name__}: {exc})"
            finally:
                box.cleanup()
    _PROBED[python] = reason
    return reason


# ---------------------------------------------------------------------------- control groups

def _cgroup_folders() -> dict[str, tuple[Path, int]]:
    """``{controller: (folder of this process's group, cgroup version)}`` for ``pids``, ``memory`` and ``cpu``,
    where that folder can be written (as root): cgroup v1 hierarchies, or a cgroup v2 group whose
    ``cgroup.subtree_control`` enables the controller."""
    try:
        groups = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return {}
    mine_v1, mine_v2 = {}, None
    for line in groups:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            mine_v2 = path
        for c in controllers.split(","):
            mine_v1[c] = path
    found: dict[str, tuple[Path, int]] = {}
    for line in mounts:
        fields = line.split()
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        root, point, fstype, options = fields[3], fields[4], fields[dash + 1], fields[dash + 3].split(",")
        if fstype == "cgroup":
            for c in ("pids", "memory", "cpu"):
                if c in options and c in mine_v1 and c not in found:
                    rel = os.path.relpath(mine_v1[c], root) if mine_v1[c].startswith(root) else None
                    folder = Path(point) / rel if rel not in (None, ".") else Path(point)
                    if rel is not None and folder.is_dir() and os.access(folder, os.W_OK):
                        found[c] = (folder, 1)
        elif fstype == "cgroup2" and mine_v2 is not None and mine_v2.startswith(root):
            rel = os.path.relpath(mine_v2, root)
            folder = Path(point) / rel if rel != "." else Path(point)
            try:
                enabled = (folder / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            for c in ("pids", "memory", "cpu"):
                if c in enabled and c not in found and os.access(folder, os.W_OK):
                    found[c] = (folder, 2)
    return found


_CGROUPS: list = []


def cgroup_folders() -> dict[str, tuple[Path, int]]:
    if not _CGROUPS:
        _CGROUPS.append(_cgroup_folders())
    return _CGROUPS[0]


def missing_cgroups() -> str | None:
    """None when every per-notebook control group (pids, memory, cpu) can be made here, else one sentence
    saying which cannot and what holds instead."""
    missing = [c for c in ("pids", "memory", "cpu") if c not in cgroup_folders()]
    if not missing:
        return None
    instead = {"pids": "processes are capped by RLIMIT_NPROC, which counts per user",
               "memory": "memory is capped per process (--memory-mb of address space), not per notebook",
               "cpu": "CPU time is shared with the other notebooks without a quota"}
    why = "the grader does not run as root" if os.geteuid() != 0 else "they are not mounted writable here"
    return (f"no {', '.join(missing)} control group per notebook ({why}): "
            + "; ".join(instead[c] for c in missing))


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


class ControlGroups:
    """Control groups of one student's process and its descendants: at most ``processes`` processes (threads
    included), ``memory_mb`` of memory together (their files in ``tmpfs`` and memfds included, no swap),
    ``cpus`` cores of CPU time.

    Where a controller can be written (root), ``folders`` holds a fresh group of it that the child joins
    before it runs anything (``enter``, in the child), and ``close`` kills every process still in them and
    removes them. Without a ``pids`` group, ``enter`` sets ``RLIMIT_NPROC``: to ``processes`` for a sandbox
    uid of its own (``uid``), else to what this user runs now plus ``processes`` (roughly, since it counts
    per user; never enforced for root).
    """

    def __init__(self, processes: int, memory_mb: int | None = None, cpus: float | None = None, uid: int | None = None):
        self.processes = processes
        self.folders: dict[str, Path] = {}
        self.nproc = None
        name = f"grade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        settings = {"pids": [("pids.max", str(processes))]}
        if memory_mb:
            mem = str(int(memory_mb) * 1024 * 1024)
            settings["memory"] = {1: [("memory.limit_in_bytes", mem), ("memory.memsw.limit_in_bytes", mem)],
                                  2: [("memory.max", mem), ("memory.swap.max", "0")]}
        if cpus:
            period = 100_000
            quota = str(max(1000, int(cpus * period)))
            settings["cpu"] = {1: [("cpu.cfs_period_us", str(period)), ("cpu.cfs_quota_us", quota)],
                               2: [("cpu.max", f"{quota} {period}")]}
        for controller, wanted in settings.items():
            if controller not in cgroup_folders():
                continue
            base, version = cgroup_folders()[controller]
            if isinstance(wanted, dict):
                wanted = wanted[version]
            folder = self.folders.get("v2") if version == 2 else None
            try:
                if folder is None:
                    folder = base / name
                    folder.mkdir()
                for file, value in wanted:
                    if (folder / file).exists() or file in ("pids.max", "memory.limit_in_bytes", "memory.max",
                                                            "cpu.cfs_quota_us", "cpu.max"):
                        (folder / file).write_text(value)
            except OSError:
                if version == 1 or "v2" not in self.folders:
                    _remove(folder)
                continue
            self.folders["v2" if version == 2 else controller] = folder
            if version == 2:
                self.folders.setdefault(f"v2-{controller}", folder)
        if "pids" not in self.folders and "v2-pids" not in self.folders:
            if uid is not None:
                self.nproc = processes + 4  # bwrap's own two processes count too
            elif os.getuid() != 0:
                self.nproc = _tasks_of_this_user() + processes

    def has(self, controller: str) -> bool:
        return controller in self.folders or f"v2-{controller}" in self.folders

    def _groups(self) -> list[Path]:
        return sorted({f for k, f in self.folders.items() if not k.startswith("v2-")})

    def enter(self) -> None:
        """In the child, before exec: join the groups (and set RLIMIT_NPROC where there is no pids group)."""
        import resource
        for folder in self._groups():
            with open(folder / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
        if self.nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self._groups():
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(found)

    def close(self) -> None:
        """Kill every process left in the groups and remove them."""
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
        for folder in self._groups():
            _remove(folder)
        self.folders = {}


def _remove(folder: Path | None) -> None:
    if folder is None:
        return
    for _ in range(100):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
