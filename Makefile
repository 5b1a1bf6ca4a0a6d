# Optimizing the Input: the two commands are `make lab` and `make test`.
# Everything else here is for instructors and maintainers.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
KERNEL := optimizing-the-input
STAMP  := $(VENV)/.installed
# Cap the BLAS/torch threads of each notebook kernel when tests run in parallel.
PYTEST_WORKERS ?= 2
# The exact versions the workbook is tested with (`make lock` refreshes it); used with Python 3.11 on Linux x86_64.
# `make LOCK= lab` installs the newest versions pyproject.toml allows instead.
LOCK ?= requirements/lock-linux-py311.txt
# Where torch and torchvision come from. Empty: PyPI, whose Linux wheels are the CUDA build (about 6 GB in
# .venv). `make TORCH_INDEX=https://download.pytorch.org/whl/cpu lab`: PyTorch's CPU-only wheels (README).
TORCH_INDEX ?=
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: lab test check test-browser browser-deps notes unit notebooks student expected models weights grade release lock clean-venv help \
        instructor-env nbgrader test-nbgrader test-hub hub

help:
	@echo "make lab      set up .venv (first time) and open the workbook in JupyterLab"
	@echo "make test     set up .venv (first time) and run every test, notebooks included; then the exercise table"
	@echo "make check [NB=01]  the table of the exercises in notebooks/ (passed / wrong / not done), or of one notebook"
	@echo "make student  regenerate notebooks/ from solutions/"
	@echo "make expected regenerate data/expected/ (self-check values) from solutions/"
	@echo "make notes    execute the solutions and export them to HTML under build/notes/"
	@echo "make test-browser  open JupyterLab in headless Chromium and run every notebook there"
	@echo "make models   retrain the shipped models from scratch"
	@echo "make weights  download the optional ImageNet weights (needs internet)"
	@echo "make grade SUBMISSIONS=dir [OUT=grades.csv]  grade submitted notebooks (see README, Grading)"
	@echo "make release  build the student bundle dist/optimizing-the-input-student.zip"
	@echo "make lock     re-resolve requirements/lock-linux-py311.txt (the pinned versions) to the newest allowed"
	@echo "make nbgrader [OUT=build/nbgrader]  write an nbgrader course directory from solutions/ (README, nbgrader)"
	@echo "make test-nbgrader  the real nbgrader grades solution, untouched and wrong notebooks as make grade does"
	@echo "make test-hub  a real JupyterHub on 127.0.0.1: two students log in with Chromium and run a notebook each"
	@echo "make hub      start the JupyterHub of config/jupyterhub/ (README, Teaching on a JupyterHub)"

# $(VENV)/.constraints holds the pip option that pins the lock ("-c FILE"), or nothing (no lock for this Python and platform).
$(STAMP): pyproject.toml $(wildcard $(LOCK))
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 lab")'
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(LOCK)" ] && $(PY) -c 'import sys, platform; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64")'; then echo "-c $(LOCK)"; \
	  else echo "Installing without the lock: the newest versions pyproject.toml allows$(if $(LOCK), (the lock is for Python 3.11 on Linux x86_64))." >&2; fi > $(VENV)/.constraints
	$(if $(TORCH_INDEX),$(PIP) $$(cat $(VENV)/.constraints) --no-deps --index-url $(TORCH_INDEX) torch torchvision)
	$(PIP) $$(cat $(VENV)/.constraints) -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (Optimizing the Input)"
	@touch $(STAMP)

# JupyterLab settings for the workbook (no news pop-up, every cell rendered): see config/jupyterlab/.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_SETTINGS): config/jupyterlab/overrides.json $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

# Server settings: the workbook's kernel is the only one offered; *.egg-info stays out of the file browser.
SERVER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.json

$(SERVER_CONFIG): config/jupyterlab/jupyter_server_config.json $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

lab: $(STAMP) $(LAB_SETTINGS) $(SERVER_CONFIG)
	$(VENV)/bin/jupyter lab --notebook-dir=$(or $(LAB_DIR),.) $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# The exit status is about the tests and the notebooks running; the table of notebooks/'s exercises after it
# (course_utils.homework, the student's "is my homework right?") does not change it.
test: $(STAMP)
	@status=0; $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope --nbval-lax --nbval-current-env --nbval-cell-timeout=300 tests notebooks solutions $(PYTEST_ARGS) || status=$$?; \
	  $(PY) -m course_utils.homework || status=$$?; exit $$status

# The table alone: every notebook in notebooks/, or NB=01 (a number, a name or a path, e.g. NB=solutions).
check: $(STAMP)
	$(PY) -m course_utils.homework $(NB)

# The workbook as a student sees it: every solution notebook run in JupyterLab in headless Chromium with
# every control moved (Playwright for Python from pip, Debian's Chromium from apt-get when root), and
# the posted notes built and checked. Skips with a one-line reason where Chromium cannot be had.
test-browser: $(STAMP) $(LAB_SETTINGS) $(SERVER_CONFIG) browser-deps
	$(PY) -m pytest -v e2e $(PYTEST_ARGS)

browser-deps: $(STAMP)
	@$(PY) -c 'import playwright' 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check 'playwright>=1.40'
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || { echo "Installing Debian's chromium with apt-get (for the browser test)"; apt-get install -y -q chromium >/dev/null 2>&1; } \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
	  || echo "Could not install chromium with apt-get; the browser test will skip."

# Posted lecture notes: every solution notebook executed and exported to HTML under build/notes/.
notes: $(STAMP)
	$(PY) -m instructor.notes

unit: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests $(PYTEST_ARGS)

student: $(STAMP)
	$(PY) -m instructor.assign

expected: $(STAMP)
	$(PY) -m instructor.expected

models: $(STAMP)
	$(PY) -m instructor.train lenet-mnist
	$(PY) -m instructor.train shapes-cnn
	$(PY) -m instructor.train lenet-mnist-b
	$(PY) -m instructor.train shapes-cnn-b
	$(PY) -m instructor.train shapes-cnn-tagged
	$(PY) -m instructor.train lenet-mnist-robust
	$(PY) -m instructor.train shapes-cnn-robust

weights: $(STAMP)
	$(PY) -m course_utils.imagenet fetch $(or $(MODELS),squeezenet1_1 alexnet vgg16 vgg19)

# Grading (instructors): see the README's "Grading" section. GRADE_ARGS passes more options.
# Each student's process runs under bubblewrap (bwrap): installed here with apt-get when run as root.
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make grade SUBMISSIONS=path/to/submissions [OUT=grades.csv]"; exit 2; }
	@command -v bwrap >/dev/null || [ "$$(id -u)" != 0 ] || { echo "Installing bubblewrap with apt-get (the grader's sandbox)"; apt-get install -y -q bubblewrap >/dev/null 2>&1; } \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1) \
	  || echo "Could not install bubblewrap with apt-get; the grader will say what to do."
	$(PY) -m instructor.grade "$(SUBMISSIONS)" --out "$(or $(OUT),grades.csv)" $(GRADE_ARGS)

# The bundle students receive: notebooks/, course_utils/, data/, a student README and Makefile.
release: $(STAMP)
	rm -f dist/optimizing-the-input-student.zip
	$(PY) -m instructor.release --out dist/optimizing-the-input-student.zip

# Refresh the lock: the newest versions pyproject.toml allows, for this Python (3.11) and platform.
# Then `make clean-venv test` installs and tests exactly those; commit the lock if it passes.
lock: $(STAMP)
	$(PY) -m instructor.lock $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))

clean-venv:
	rm -rf $(VENV) $(IVENV)

# ---------------------------------------------------------------------------- nbgrader and JupyterHub (instructors)
# README, "Teaching on a JupyterHub". The instructor's tools (the `instructor` extra: nbgrader, jupyterhub) go into a
# second environment, .venv-instructor, that sees every package of .venv (a .pth file adds .venv's site-packages)
# and adds only the extra's, pinned by the same lock. .venv itself is not changed: JupyterLab there (make lab, the
# browser test) loads no nbgrader extension. npm's configurable-http-proxy (the hub's proxy) goes under it too.
IVENV  := .venv-instructor
IPY    := $(IVENV)/bin/python
ISTAMP := $(IVENV)/.installed
CHP_VERSION ?= 5.3.0
NBGRADER_OUT ?= build/nbgrader

$(ISTAMP): $(STAMP) pyproject.toml $(wildcard $(LOCK))
	$(PYTHON) -m venv $(IVENV)
	@$(PY) -c 'import sysconfig; print("import site; site.addsitedir(" + repr(sysconfig.get_paths()["purelib"]) + ")")' \
	  > "$$($(IPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_workbook_venv.pth"
	$(IPY) -m pip install --quiet --disable-pip-version-check $$(cat $(VENV)/.constraints) \
	  $$($(PY) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["instructor"]))')
	@$(PY) -m ipykernel install --prefix $(abspath $(IVENV)) --name $(KERNEL) --display-name "Python (Optimizing the Input)" \
	  >$(IVENV)/kernel-install.log 2>&1 || { cat $(IVENV)/kernel-install.log; exit 1; }
	@command -v npm >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get install -y -q nodejs npm >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nodejs npm >/dev/null 2>&1); } \
	  || echo "Could not install npm with apt-get; the hub test will skip."
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(IVENV)/node configurable-http-proxy@$(CHP_VERSION) \
	  || echo "Could not install configurable-http-proxy with npm; the hub test will skip."
	@touch $(ISTAMP)

instructor-env: $(ISTAMP)

# An nbgrader course directory from solutions/ (NB="01 11" for some notebooks only).
nbgrader: $(STAMP)
	$(PY) -m instructor.nbgrader --out $(or $(OUT),$(NBGRADER_OUT)) $(NB)

# The real nbgrader on generated notebooks: same scores as make grade (bubblewrap as for make grade).
test-nbgrader: $(ISTAMP)
	@command -v bwrap >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q bubblewrap >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1) || true
	$(IPY) -m pytest -v -p no:xdist --basetemp=$(abspath build/test-nbgrader) hub/test_nbgrader.py $(PYTEST_ARGS)

# A real JupyterHub on 127.0.0.1, two test students in headless Chromium (as make test-browser, Playwright + chromium).
test-hub: $(ISTAMP) browser-deps
	$(IPY) -m pytest -v -p no:xdist --basetemp=$(abspath build/test-hub) hub/test_hub.py $(PYTEST_ARGS)

# The hub of config/jupyterhub/jupyterhub_config.py on this machine (as root, for the students' system accounts).
hub: $(ISTAMP)
	PATH="$(abspath $(IVENV))/node/node_modules/.bin:$$PATH" $(IVENV)/bin/jupyterhub -f config/jupyterhub/jupyterhub_config.py $(HUB_ARGS)
