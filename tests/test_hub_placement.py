"""The hub's spawn hook (instructor/hub.py): the student notebooks placed in a home, never over a student's file."""
import os

import pytest

from instructor.hub import COURSE_FOLDER, place_notebooks


@pytest.fixture
def course(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (source / name).write_text(f'{{"course": "{name}"}}')
    (source / "notes.txt").write_text("not a notebook")
    return source


def test_first_login_copies_every_notebook(course, tmp_path):
    home = tmp_path / "home"
    placed = place_notebooks(course, home)
    assert placed.copied == ["01_a.ipynb", "02_b.ipynb"] and placed.kept == []
    assert sorted(p.name for p in (home / COURSE_FOLDER).iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    assert (home / COURSE_FOLDER / "01_a.ipynb").read_text() == (course / "01_a.ipynb").read_text()


def test_a_students_edit_is_never_overwritten(course, tmp_path):
    home = tmp_path / "home"
    place_notebooks(course, home)
    mine = home / COURSE_FOLDER / "01_a.ipynb"
    mine.write_text('{"my": "work"}')
    (home / COURSE_FOLDER / "02_b.ipynb").unlink()  # deleted: comes back on the next start
    (course / "01_a.ipynb").write_text('{"course": "a newer version"}')
    placed = place_notebooks(course, home)
    assert mine.read_text() == '{"my": "work"}'
    assert placed.copied == ["02_b.ipynb"] and placed.kept == ["01_a.ipynb"] and placed.changed == ["01_a.ipynb"]
    assert "01_a.ipynb" in placed.summary()
    assert not [p for p in (home / COURSE_FOLDER).iterdir() if p.name.startswith(".")]  # no temporary file left


def test_links_are_refused(course, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / COURSE_FOLDER).symlink_to(elsewhere)
    with pytest.raises(ValueError, match="not a folder"):
        place_notebooks(course, home)
    assert not list(elsewhere.iterdir())
    (home / COURSE_FOLDER).unlink()
    (home / COURSE_FOLDER).mkdir()
    os.symlink(elsewhere / "target.ipynb", home / COURSE_FOLDER / "01_a.ipynb")
    with pytest.raises(ValueError, match="not a regular file"):
        place_notebooks(course, home)
    assert not (elsewhere / "target.ipynb").exists()
