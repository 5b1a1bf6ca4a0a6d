"""Where the workbook's files live: the repository's ``data/``, ``solutions/`` and ``notebooks/`` folders."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "data_dir", "solutions_dir", "notebooks_dir"]

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The ``data/`` folder (override with the environment variable ``COURSE_DATA_DIR``)."""
    return Path(os.environ.get("COURSE_DATA_DIR", ROOT / "data"))


def solutions_dir() -> Path:
    """The ``solutions/`` folder: the complete notebooks, the source of truth."""
    return ROOT / "solutions"


def notebooks_dir() -> Path:
    """The ``notebooks/`` folder: the student versions, generated from ``solutions/``."""
    return ROOT / "notebooks"
