"""`make notes`: every solution notebook executed and exported to a page, and an index that links them all."""
from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.images = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img" and (attrs.get("src") or "").startswith("data:image/png"):
            self.images += 1


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _interactive_cells(stem: str) -> int:
    nb = nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)
    return sum(c.cell_type == "code" and "interactive_plot(" in c.source for c in nb.cells)


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    """Build the notes as `make notes` does, into a temporary folder."""
    out = tmp_path_factory.mktemp("notes")
    result = subprocess.run([sys.executable, "-m", "instructor.notes", "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"make notes failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    print(result.stdout)
    return out


def test_every_lecture_has_a_page_with_its_pictures_and_no_error(notes):
    for stem in LECTURES:
        page = notes / f"{stem}.html"
        assert page.exists(), f"make notes wrote no page for solutions/{stem}.ipynb"
        text = page.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, f"{page.name} shows a traceback"
        # Plots (the sliders' pictures included, drawn at their defaults) are embedded, not linked.
        assert _parse(page).images >= 3, f"{page.name} embeds fewer than 3 pictures"
        sliders = _interactive_cells(stem)
        assert text.count("Interactive in JupyterLab") == sliders, \
            f"{page.name}: {sliders} cells build controls, but {text.count('Interactive in JupyterLab')} drew their picture"
        assert '<script type="application/vnd.jupyter.widget-view+json">' not in text, \
            f"{page.name} holds a widget, which a static page cannot show"


def test_index_links_every_lecture_in_order(notes):
    index = notes / "index.html"
    assert index.exists(), "make notes wrote no index.html"
    hrefs = [h for h in _parse(index).hrefs if h.endswith(".html")]
    assert hrefs == [f"{stem}.html" for stem in LECTURES], f"the index links {hrefs}"
    titles = re.findall(r'<a href="[^"]+">([^<]+)</a>', index.read_text(encoding="utf-8"))
    assert all(t.strip() and not t.endswith(".html") for t in titles), f"index titles: {titles}"


def test_pages_render_their_math_offline(notes):
    # MathJax is copied beside the pages and loaded by a relative link; no page loads a script from the internet.
    assert (notes / "mathjax" / "MathJax.js").is_file(), "make notes did not copy MathJax beside the pages"
    assert (notes / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert (notes / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").is_dir()
    for stem in LECTURES:
        text = (notes / f"{stem}.html").read_text(encoding="utf-8")
        sources = re.findall(r'<script[^>]*\ssrc="([^"]*)"', text)
        assert "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe" in sources, f"{stem}.html does not load the local MathJax"
        remote = [s for s in sources if "://" in s or s.startswith("//")]
        assert not remote, f"{stem}.html loads scripts from the internet: {remote}"
