"""Benchmark: laying the HTML report out as an A4 PDF.

Times :func:`trial.report.pdf.write_pdf` (one layout, with a conditional page break before each
section and the wide tables on landscape pages, then the layout read back to list the sections
that start a page) against one layout of the same HTML with neither
(:func:`trial.report.pdf.render_pdf`), in the same process, on a rendered report (default: the
example's ``reports/refocus/report.html``; run the workflow first). Prints CPU and wall seconds,
the breaks placed, the page count and the ratio of the two CPU times.

Usage: ``python benchmarks/bench_pdf.py [REPORT_HTML]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pypdf

from trial.report.pdf import print_html, render_pdf, write_pdf

ROOT = Path(__file__).resolve().parents[1]
PROVENANCE = {"run_at_utc": "-", "config_sha256": "0" * 64, "code_version": "-", "seed": 0}


def timed(call):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports/refocus/report.html"
    html = source.read_text(encoding="utf-8")
    svg = [source.parent / "figures" / "consort_flow.svg"]  # the figure the report inlines
    plain = print_html(html, PROVENANCE, svg, section_breaks=False, landscape=False)
    _, one_cpu, one_wall = timed(lambda: render_pdf(plain, svg))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.pdf"
        breaks, cpu, wall = timed(lambda: write_pdf(html, PROVENANCE, path, svg))
        pages = len(pypdf.PdfReader(path).pages)
    print(f"report: {source} ({len(html) / 1e6:.1f} MB of HTML)")
    print(f"one layout, no breaks:  CPU {one_cpu:6.1f} s, wall {one_wall:6.1f} s")
    print(f"write_pdf:              CPU {cpu:6.1f} s, wall {wall:6.1f} s, {pages} pages")
    print(f"sections starting a page ({len(breaks)}): {', '.join(breaks) or 'none'}")
    print(f"write_pdf / one layout (CPU): {cpu / one_cpu:.2f}")


if __name__ == "__main__":
    main()
