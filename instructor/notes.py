"""Posted lecture notes: every solution notebook executed and exported to HTML, with an index page.

This is what an instructor puts online after class. Each notebook in ``solutions/`` runs top to
bottom in a fresh kernel (as nbval runs it); its sliders and dropdowns are drawn once, at their
default values, into the cell's own output (``COURSE_STATIC_WIDGETS=1``, see ``widgets``), and
progress bars are off (``COURSE_QUIET=1``), so the page needs no running kernel and no widget
JavaScript. The math is typeset by a copy of MathJax 2 (from the ``jupyter-server-mathjax`` package,
installed with the project) that the build puts in ``mathjax/`` beside the pages and that the pages
load by a relative link, so the notes render offline, from a folder or any web server. The
repository's notebooks are never written.

Usage::

    python -m instructor.notes                    # every lecture -> build/notes/
    python -m instructor.notes 01_filters 05      # only lectures whose name contains these
    python -m instructor.notes --out DIR --jobs 2
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

from course_utils.paths import ROOT, solutions_dir
from course_utils.widgets import STATIC_ENV

__all__ = ["lecture_info", "execute_notebook", "build_notes", "mathjax_source", "MATHJAX_DIR", "MATHJAX_URL"]

DEFAULT_OUT = ROOT / "build" / "notes"
CELL_TIMEOUT = 600  # seconds; a notebook's budget is 60 s in all
MATHJAX_DIR = "mathjax"  # beside the pages
# MathJax 2's TeX input and HTML-CSS output with the web fonts the package ships (STIX-Web), and the Safe extension.
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
_MATHJAX_FONTS = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null, preferredFont: null}});
</script>
"""


def mathjax_source() -> Path:
    """The folder of MathJax 2 files that ``jupyter-server-mathjax`` installs (it holds ``MathJax.js``)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise FileNotFoundError("The notes need MathJax from the package jupyter-server-mathjax, which is not installed: "
                                "run make lab (or pip install -e .) to install the project's dependencies.") from None
    folder = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise FileNotFoundError(f"jupyter-server-mathjax is installed but {folder} holds no MathJax.js; reinstall it.")
    return folder


def _copy_mathjax(out_dir: Path) -> None:
    """Put MathJax beside the pages (once: a complete copy of the same version is left as it is)."""
    source, target = mathjax_source(), out_dir / MATHJAX_DIR
    if (target / "MathJax.js").is_file() and (target / "MathJax.js").read_bytes() == (source / "MathJax.js").read_bytes():
        return
    shutil.copytree(source, target, dirs_exist_ok=True)


def lecture_info(nb) -> dict:
    """The title and one-paragraph promise of a notebook (its first Markdown cell)."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    title = next((line[2:].strip() for line in first.splitlines() if line.startswith("# ")), "")
    paragraphs = [p.strip() for p in first.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    promise = re.sub(r"^\*\*[^*]+\*\*\s*", "", paragraphs[0]) if paragraphs else ""
    return {"title": title, "promise": promise}


def execute_notebook(path: Path):
    """Run a notebook in a fresh kernel of this environment; return the executed copy.

    Raises:
        RuntimeError: a cell not tagged ``raises-exception`` failed; the message names the cell.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ[STATIC_ENV] = "1"  # inherited by the kernel this process starts
    os.environ["COURSE_QUIET"] = "1"  # no progress bars: a finished bar says nothing on a page
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                       and any(o.get("output_type") == "error" for o in c.get("outputs", []))), "?")
        reason = str(exc).strip().splitlines()[-1][:300]
        raise RuntimeError(f"{path.name}: cell {failed} failed while building the notes: {reason}") from None
    return nb


def _export(path: Path, out_dir: Path) -> dict:
    from nbconvert import HTMLExporter

    start = time.perf_counter()
    nb = execute_notebook(path)
    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_URL)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    # The fonts this MathJax copy ships, configured before it starts (it reads x-mathjax-config blocks on start-up).
    loader = f'<script src="{MATHJAX_URL}"> </script>'
    if loader not in body:
        raise RuntimeError(f"{path.name}: the HTML template did not load MathJax from {MATHJAX_URL}; the notes would show raw LaTeX.")
    body = body.replace(loader, _MATHJAX_FONTS + loader, 1)
    # require.js serves widget JavaScript, which these static pages do not hold; the template fetches it from a CDN.
    body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "", 1)
    page = out_dir / f"{path.stem}.html"
    page.write_text(body, encoding="utf-8")
    return {"stem": path.stem, "page": page.name, "seconds": time.perf_counter() - start, **lecture_info(nb)}


def _inline(markdown: str) -> str:
    """Escape text for HTML, keeping Markdown's *emphasis*, **strong** and `code`."""
    text = html.escape(markdown, quote=False)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _index(lectures: list[dict]) -> str:
    items = "\n".join(
        f'  <li><a href="{html.escape(l["page"])}">{_inline(l["title"] or l["stem"])}</a>'
        f'<p>{_inline(l["promise"])}</p></li>' for l in lectures)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Optimizing the Input: lecture notes</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
 ul {{ list-style: none; padding: 0; }} li {{ margin-bottom: 1rem; }} li a {{ font-weight: 600; font-size: 1.1rem; }} li p {{ margin: 0.25rem 0 0; color: #444; }}
</style>
</head>
<body>
<h1>Optimizing the Input: lecture notes</h1>
<p>Each lecture, run top to bottom. Sliders are drawn at their default values; open the notebook in
JupyterLab (<code>make lab</code>) to move them.</p>
<ul>
{items}
</ul>
</body>
</html>
"""


def build_notes(names: list[str] | None = None, out_dir: Path = DEFAULT_OUT, jobs: int = 1) -> list[dict]:
    """Execute the chosen solution notebooks, write one HTML page each and ``index.html``.

    Args:
        names: parts of notebook names to build (default: every notebook in ``solutions/``).
        out_dir: the folder for the pages; created if missing. Pages of other lectures already
            there are kept and listed in the index.
        jobs: notebooks executed at once.

    Returns:
        One dict per built lecture: ``stem``, ``page``, ``title``, ``promise``, ``seconds``.
    """
    paths = sorted(solutions_dir().glob("*.ipynb"))
    if names:
        chosen = [p for p in paths if any(n in p.stem for n in names)]
        unknown = [n for n in names if not any(n in p.stem for p in paths)]
        if unknown:
            raise ValueError(f"No solution notebook matches {', '.join(map(repr, unknown))}; "
                             f"the lectures are {', '.join(p.stem for p in paths)}.")
        paths = chosen
    if not paths:
        raise FileNotFoundError(f"There are no notebooks in {solutions_dir()} to build notes from.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_mathjax(out_dir)
    if jobs > 1:
        # Each kernel gets its share of the cores.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            built = list(pool.map(_export, paths, [out_dir] * len(paths)))
    else:
        built = [_export(p, out_dir) for p in paths]
    # The index lists every lecture page in the folder, in order: those built now and earlier ones.
    lectures = {l["stem"]: l for l in built}
    for page in sorted(out_dir.glob("[0-9][0-9]_*.html")):
        source = solutions_dir() / f"{page.stem}.ipynb"
        if page.stem not in lectures and source.exists():
            lectures[page.stem] = {"stem": page.stem, "page": page.name,
                                   **lecture_info(nbformat.read(source, as_version=4))}
    (out_dir / "index.html").write_text(_index([lectures[k] for k in sorted(lectures)]), encoding="utf-8")
    return built


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.notes", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="parts of notebook names, e.g. 01 or 05_saliency (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/notes)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks run at once")
    args = parser.parse_args(argv)
    try:
        built = build_notes(args.names, args.out, max(1, args.jobs))
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for lecture in built:
        print(f"{lecture['page']:28s} {lecture['seconds']:6.1f} s  {lecture['title']}")
    print(f"index: {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
