"""JupyterHub for the workbook: one JupyterLab server per student, the workbook's environment, the notebooks in each home.

README, "Teaching on a JupyterHub". Start it with `make hub` (as root, on the machine that holds the course's checkout),
or `.venv-instructor/bin/jupyterhub -f config/jupyterhub/jupyterhub_config.py` with configurable-http-proxy on PATH.

* Students log in with their system account (PAM) and each gets a server of their own, run as their own Unix user
  (LocalProcessSpawner), in their home, opening JupyterLab.
* The single-user environment is the workbook's: ``.venv``, installed from the lock (``make lab`` / ``make test``),
  plus the ``jupyterhub`` package of the lock (the instructor extra, in ``.venv-instructor``), which the server needs
  to talk to the hub. The kernel is the workbook's ("Python (Optimizing the Input)").
* Before each start of a student's server, the spawn hook places the student notebooks (``notebooks/``) in
  ``~/optimizing-the-input/``: those missing are copied, none already there is overwritten (instructor/hub.py).
* Grading: the students' homes hold a folder per student, as ``make grade`` reads them:
  ``make grade SUBMISSIONS=/home`` (or nbgrader; README).

Settings from the environment (all optional):

``WORKBOOK_DIR``       the course's checkout (default: two folders above this file)
``WORKBOOK_HUB_IP``    where the hub listens (default 127.0.0.1: this machine only; put a TLS proxy in front for more)
``WORKBOOK_HUB_PORT``  its port (default 8000); ``WORKBOOK_HUB_API_PORT`` (8081), ``WORKBOOK_PROXY_API_PORT`` (8001)
                       the hub's and the proxy's own, on 127.0.0.1
``WORKBOOK_HUB_STATE`` where the hub keeps its database, cookie secret and proxy pid (default /srv/jupyterhub)
``WORKBOOK_HUB_TEST``  test accounts instead of system ones (``make test-hub``): the comma-separated user names,
                       logging in with the password in ``WORKBOOK_HUB_PASSWORD``; their servers run as this user,
                       with homes under ``$WORKBOOK_HUB_STATE/homes/<name>``. Never on a hub students use.
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides it)

WORKBOOK = Path(os.environ.get("WORKBOOK_DIR", Path(__file__).resolve().parents[2]))
VENV = WORKBOOK / ".venv"  # the students' environment (the lock)
STATE = Path(os.environ.get("WORKBOOK_HUB_STATE", "/srv/jupyterhub"))
TEST_USERS = [u.strip() for u in os.environ.get("WORKBOOK_HUB_TEST", "").split(",") if u.strip()]

sys.path.insert(0, str(WORKBOOK))
from instructor.hub import COURSE_FOLDER, place_notebooks  # noqa: E402

STATE.mkdir(parents=True, exist_ok=True)
c.JupyterHub.ip = os.environ.get("WORKBOOK_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("WORKBOOK_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: for the proxy and the servers on this machine only
c.JupyterHub.hub_port = int(os.environ.get("WORKBOOK_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('WORKBOOK_PROXY_API_PORT', '8001')}"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
chp = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"  # make instructor-env puts it there
if chp.exists():
    c.ConfigurableHTTPProxy.command = [str(chp)]

# ---------------------------------------------------------------------------- each student's server
# The workbook's Python runs the server; the hub's package comes from .venv-instructor (sys.prefix of the hub).
c.Spawner.cmd = [str(VENV / "bin" / "python"), "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = f"/lab/tree/{COURSE_FOLDER}"
c.Spawner.environment = {
    "PYTHONPATH": next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)),
    "OMP_NUM_THREADS": "1",  # students share the cores: one thread per kernel (the notebooks' budgets hold on it)
}
c.Spawner.start_timeout = 120  # a cold start imports torch: tens of seconds on a busy machine
c.Spawner.http_timeout = 120
# Sized from bench/results/kernel_resources.json and hub.json (README): the heaviest notebook's kernel peaks at about
# 2.0 GiB (02_activations), the server beside it is small. LocalProcessSpawner does not enforce these; KubeSpawner
# (Zero to JupyterHub: singleuser.memory / singleuser.cpu in the Helm values) and systemdspawner do.
c.Spawner.mem_guarantee = "2.5G"
c.Spawner.mem_limit = "4G"
c.Spawner.cpu_guarantee = 0.5
c.Spawner.cpu_limit = 1.0


def place_workbook(spawner):
    """The spawn hook: the student notebooks into ~/optimizing-the-input, never over a student's file."""
    if TEST_USERS:
        home, uid, gid = Path(spawner.home_dir), None, None
    else:
        import pwd

        entry = pwd.getpwnam(spawner.user.name)
        home, uid, gid = Path(entry.pw_dir), entry.pw_uid, entry.pw_gid
    placed = place_notebooks(WORKBOOK / "notebooks", home, uid, gid)
    spawner.log.info("workbook for %s: %s", spawner.user.name, placed.summary())


c.Spawner.pre_spawn_hook = place_workbook

# ---------------------------------------------------------------------------- who logs in
if TEST_USERS:
    # make test-hub: test accounts with one password, servers as this user with their own homes.
    c.JupyterHub.authenticator_class = "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
    c.SharedPasswordAuthenticator.user_password = os.environ["WORKBOOK_HUB_PASSWORD"]
    c.Authenticator.allowed_users = set(TEST_USERS)
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "homes" / "{username}")
    if os.getuid() == 0:
        c.Spawner.args = ["--ServerApp.allow_root=True"]
else:
    # System accounts (PAM); each server runs as its student's Unix user. Name the students, or allow every account.
    c.JupyterHub.authenticator_class = "pam"
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    allowed = os.environ.get("WORKBOOK_HUB_STUDENTS", "")
    if allowed:
        c.Authenticator.allowed_users = {u.strip() for u in allowed.split(",") if u.strip()}
    admins = os.environ.get("WORKBOOK_HUB_ADMINS", "")
    if admins:
        c.Authenticator.admin_users = {u.strip() for u in admins.split(",") if u.strip()}
