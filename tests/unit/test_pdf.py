"""The PDF report: A4 pages, header rows repeated, the run named on every page, and sections
starting a new page only where that leaves no page more than half empty."""

from __future__ import annotations

import io

import pytest

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("xhtml2pdf")

from trial.pdf import (  # noqa: E402
    A4_POINTS,
    body_limits,
    page_layouts,
    print_html,
    render_pdf,
    write_pdf,
)

PROVENANCE = {
    "run_at_utc": "2026-01-01T00:00:00Z",
    "config_sha256": "cd" * 32,
    "code_version": "0123456789abcdef",
    "seed": 11,
}


def document(*sections: tuple[str, str, str]) -> str:
    """A report-shaped page: a title, then ``<h2 id=...>`` sections with the given bodies."""
    body = "".join(
        f'<h2 id="{sid}">{i}. {title}</h2>\n{content}\n'
        for i, (sid, title, content) in enumerate(sections, start=1)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Test report</title></head>"
        f"<body><h1>Test report</h1>{body}</body></html>"
    )


def spacer(mm: int, label: str) -> str:
    """A block ending in a line of text (so its end can be read back); xhtml2pdf makes a spacer
    somewhat taller than its nominal height, so sizes below are chosen with room to spare."""
    return f'<p>start {label}</p><pdf:spacer height="{mm}mm"><p>end {label}</p>'


def test_page_layouts_reads_text_and_image_positions_from_a_known_pdf():
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4_POINTS)
    c.drawString(100, 700, "upper text")
    c.drawString(100, 400, "lower text")
    image = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(image, format="PNG")
    c.drawImage(ImageReader(io.BytesIO(image.getvalue())), 100, 150, width=50, height=80)
    c.showPage()
    c.drawString(100, 600, "second page")
    c.save()

    first, second = page_layouts(out.getvalue())
    assert first.top == pytest.approx(700)
    assert first.bottom == pytest.approx(150)  # the image's lower edge
    assert first.heading_height("lower text") == pytest.approx(400)
    assert first.heading_height("lower text", min_size=13) is None  # drawn at 12 pt
    assert first.bottom_above(400) == pytest.approx(700)
    assert first.bottom_above(100) == pytest.approx(150)
    assert first.bottom_above(700) is None
    assert second.top == second.bottom == pytest.approx(600)
    assert second.heading_height("upper text") is None


def test_pages_are_a4_and_a_long_table_repeats_its_header_on_every_page():
    rows = "".join(f"<tr><td>row {i}</td><td>{i * 3}</td></tr>" for i in range(150))
    table = (
        "<table><caption>Table 9. Long</caption><thead><tr><th>Heading-A</th><th>Heading-B</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    pdf = render_pdf(print_html(document(("long", "Long table", table)), PROVENANCE))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
            A4_POINTS, abs=0.5
        )
        text = page.extract_text()
        assert "Heading-A" in text
        # the footer names the run and the page
        assert PROVENANCE["config_sha256"] in text and "seed 11" in text
    assert "row 149" in reader.pages[-1].extract_text()
    assert PROVENANCE["config_sha256"] in reader.metadata.subject
    assert "seed:11" in reader.metadata["/Keywords"]


def test_a_section_whose_heading_would_sit_low_starts_a_new_page(tmp_path):
    low, high = body_limits()
    # 1: 20 mm, 2: 150 mm, so section 3's heading falls in the lower half of page 1
    html = document(
        ("one", "First", spacer(20, "one")),
        ("two", "Second", spacer(150, "two")),
        ("three", "Third", spacer(20, "three")),
    )
    path = tmp_path / "report.pdf"
    assert write_pdf(html, PROVENANCE, path) == ["three"]
    pages = page_layouts(path.read_bytes())
    assert len(pages) == 2
    # the page left behind is more than half full, the new one starts with the heading
    assert pages[0].bottom < (low + high) / 2
    assert pages[1].heading_height("3. Third") == pytest.approx(pages[1].top)
    assert pages[0].heading_height("2. Second") is not None


def test_a_section_whose_heading_sits_high_follows_on_the_same_page(tmp_path):
    low, high = body_limits()
    html = document(
        ("one", "First", spacer(20, "one")),
        ("two", "Second", spacer(30, "two")),
        ("three", "Third", spacer(20, "three")),
    )
    path = tmp_path / "report.pdf"
    assert write_pdf(html, PROVENANCE, path) == []
    (page,) = page_layouts(path.read_bytes())
    # what precedes section 3 ends in the upper half, so breaking would leave it half empty
    assert page.bottom_above(page.heading_height("3. Third")) > (low + high) / 2


def test_each_break_is_decided_after_the_earlier_ones_so_a_pushed_section_is_judged_again(
    tmp_path,
):
    # Without breaks, the headings of 2 and 3 both sit low on page 1. Breaking before both (as
    # a rule judging every section on the first layout would) leaves page 2 holding section 2
    # alone, 20 mm of it; breaking before 2 first moves 3 to the upper half of page 2, and it
    # is 4 that then falls low and needs the second break.
    low, high = body_limits()
    html = document(
        ("one", "First", spacer(100, "one")),
        ("two", "Second", spacer(20, "two")),
        ("three", "Third", spacer(120, "three")),
        ("four", "Fourth", spacer(20, "four")),
    )
    path = tmp_path / "report.pdf"
    breaks = write_pdf(html, PROVENANCE, path)
    pages = page_layouts(path.read_bytes())
    middle = (low + high) / 2
    for section, title in (("two", "2. Second"), ("three", "3. Third"), ("four", "4. Fourth")):
        (page,) = [p for p in pages if p.heading_height(title) is not None]
        # each heading starts its page or follows content ending in the upper half
        before = page.bottom_above(page.heading_height(title))
        assert before is None or before > middle, section
    # every page but the last is more than half full
    assert all(p.bottom < middle for p in pages[:-1])
    assert breaks == ["two", "four"]


def test_inline_svg_figures_are_drawn_from_their_files(tmp_path):
    from trial.reporting import inline_svg, pyplot, save_svg

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, "box-count-321", ha="center")
    svg = tmp_path / "diagram.svg"
    save_svg(fig, svg)
    plt.close(fig)
    html = document(("flow", "Flow", f"<figure>{inline_svg(svg, 'diagram')}</figure>"))
    pdf = render_pdf(print_html(html, PROVENANCE, [svg]), [svg])
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    # drawn, not spilled as markup text: its label once, no SVG metadata
    assert text.count("box-count-321") == 1 and "image/svg+xml" not in text
    with pytest.raises(ValueError, match="inlines 1 SVG figure"):
        print_html(html, PROVENANCE)
