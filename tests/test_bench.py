"""bench/notebooks.py: its result tables merge by notebook, so re-measuring one lecture keeps the others' rows."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench_notebooks():
    spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "bench" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merge_replaces_the_rows_measured_and_keeps_the_others_in_notebook_order(tmp_path):
    merge = _bench_notebooks()._merge
    record = tmp_path / "table.json"
    merge(record, [{"notebook": "notebooks/01_a.ipynb", "seconds": 1.0}, {"notebook": "solutions/01_a.ipynb", "seconds": 2.0},
                   {"notebook": "solutions/03_c.ipynb", "seconds": 3.0}])
    merge(record, [{"notebook": "solutions/02_b.ipynb", "seconds": 4.0}, {"notebook": "solutions/03_c.ipynb", "seconds": 5.0}])
    rows = json.loads(record.read_text())
    assert [r["notebook"] for r in rows] == ["solutions/01_a.ipynb", "solutions/02_b.ipynb", "solutions/03_c.ipynb",
                                             "notebooks/01_a.ipynb"]
    assert {r["notebook"]: r["seconds"] for r in rows} == {"solutions/01_a.ipynb": 2.0, "solutions/02_b.ipynb": 4.0,
                                                           "solutions/03_c.ipynb": 5.0, "notebooks/01_a.ipynb": 1.0}
