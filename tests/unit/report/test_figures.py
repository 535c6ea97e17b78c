"""Every figure is written as a PNG at the configured dpi and as SVG and PDF beside it, each
file the same bytes on every run."""

from __future__ import annotations

import io

import pytest

from trial.report.blocks import pyplot, save_figure, vector_paths


def draw(path, dpi):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [1, 3, 2], label="arm: Σ one")
    ax.set_xlabel("weeks since randomisation")
    ax.legend()
    save_figure(fig, path, dpi)


def test_png_svg_and_pdf_beside_each_other_and_reproducible(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    from PIL import Image

    for name in ("a", "b"):
        draw(tmp_path / f"{name}.png", dpi=123)
    svg, pdf = vector_paths(tmp_path / "a.png")
    assert (svg.name, pdf.name) == ("a.svg", "a.pdf")
    for suffix in (".png", ".svg", ".pdf"):
        first, second = (tmp_path / f"{n}{suffix}" for n in ("a", "b"))
        assert first.read_bytes() == second.read_bytes(), suffix
    # the PNG at the dpi asked for: 4 x 3 inches
    assert Image.open(tmp_path / "a.png").size == (4 * 123, 3 * 123)
    # the SVG keeps its text as text; the PDF is one 4 x 3 inch page with the text in it
    markup = svg.read_text(encoding="utf-8")
    assert "weeks since randomisation" in markup and "<text" in markup
    (page,) = pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx((288, 216))
    assert "weeks since randomisation" in page.extract_text()
