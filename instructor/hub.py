"""The workbook on a JupyterHub: the student notebooks placed in a student's home (config/jupyterhub/jupyterhub_config.py).

``place_notebooks`` is the hub's spawn hook's work, before each start of a student's server: every notebook of
``notebooks/`` that the student's folder lacks is copied in; a notebook already there is never overwritten, whatever
it holds (the student's edits), and one the course changed since is named in the log, for the student to fetch by
renaming theirs. The hook runs in the hub's process (as root on a shared machine): it refuses a target that is a
symbolic link, so that a student cannot make it write elsewhere.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Placed", "place_notebooks", "COURSE_FOLDER"]

COURSE_FOLDER = "optimizing-the-input"  # the folder in each home that holds the student notebooks


@dataclass
class Placed:
    copied: list[str] = field(default_factory=list)  # new in the student's folder
    kept: list[str] = field(default_factory=list)  # already there: left as the student has it
    changed: list[str] = field(default_factory=list)  # of ``kept``, those that differ from the course's version

    def summary(self) -> str:
        text = f"copied {len(self.copied)} notebooks, kept {len(self.kept)} already there"
        if self.changed:
            text += f" ({len(self.changed)} differ from the course's version: {', '.join(self.changed)})"
        return text


def place_notebooks(source, home, uid: int | None = None, gid: int | None = None, folder: str = COURSE_FOLDER) -> Placed:
    """Copy the ``*.ipynb`` of ``source`` into ``home/folder`` where missing; never overwrite; own them by ``uid:gid``.

    Raises ValueError when ``home/folder`` or a notebook's place in it is a symbolic link or not a regular file.
    """
    source, target = Path(source), Path(home) / folder
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ValueError(f"{target} is not a folder (a link or a file): move it away to receive the course's notebooks.")
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    if made and uid is not None:
        os.chown(target, uid, gid if gid is not None else -1)
    placed = Placed()
    for notebook in sorted(source.glob("*.ipynb")):
        dest = target / notebook.name
        if dest.is_symlink() or (dest.exists() and not dest.is_file()):
            raise ValueError(f"{dest} is not a regular file: move it away to receive the course's {notebook.name}.")
        if dest.exists():
            placed.kept.append(notebook.name)
            if dest.read_bytes() != notebook.read_bytes():
                placed.changed.append(notebook.name)
            continue
        tmp = dest.with_name(f".{dest.name}.placing")
        shutil.copyfile(notebook, tmp)
        if uid is not None:
            os.chown(tmp, uid, gid if gid is not None else -1)
        try:
            os.link(tmp, dest)  # fails if the student made the file meanwhile: theirs stays
        except FileExistsError:
            placed.kept.append(notebook.name)
        else:
            placed.copied.append(notebook.name)
        finally:
            tmp.unlink()
    return placed
