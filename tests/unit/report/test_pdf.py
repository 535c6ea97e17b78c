"""The PDF report: A4 pages, header rows repeated, the run named on every page, sections
starting a new page only where that leaves no page more than half empty, and tables too wide for
a portrait page on landscape pages."""

from __future__ import annotations

import io
import re

import pytest

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("xhtml2pdf")

from trial.report.pdf import (  # noqa: E402
    A4_POINTS,
    MARGIN_SIDE,
    MM,
    body_limits,
    late_sections,
    page_layouts,
    print_html,
    render_pdf,
    sized_columns,
    table_width,
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
    assert late_sections(html, pages) == []  # read back: no heading left low on its page


def test_inline_svg_figures_are_drawn_from_their_files(tmp_path):
    from trial.report.blocks import inline_svg, pyplot, save_svg

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


def wide_table(columns: int, rows: int, caption: str = "Table W. Wide") -> str:
    """A table of ``columns`` interval columns, each needing about 26 mm on one line."""
    head = "".join(f"<th>Heading-{i}</th>" for i in range(columns))
    body = "".join(
        "<tr>" + "".join(f"<td>{r}.{i}5 (-1.23 to 2.34)</td>" for i in range(columns)) + "</tr>"
        for r in range(rows)
    )
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>{body}</table>"


def test_a_table_is_wide_when_its_numbers_cannot_sit_on_one_line_across_a_portrait_page():
    portrait = A4_POINTS[0] - 2 * MARGIN_SIDE * MM
    assert table_width(wide_table(3, 2)) < portrait
    assert table_width(wide_table(9, 2)) > portrait
    # prose wraps well: a long text column is counted at its capped width
    prose = " ".join(["word"] * 200)
    table = f"<table><tr><td>{prose}</td><td>1.0</td></tr></table>"
    assert table_width(table) < portrait
    # a header counts by its longest word, a spanning cell sets no column's width
    header = "<tr><th>" + " ".join(["label"] * 60) + '</th><th colspan="2">' + prose + "</th></tr>"
    assert table_width(f"<table>{header}<tr><td>1</td><td>2</td></tr></table>") < portrait


def test_a_wide_table_and_its_note_are_laid_out_on_landscape_pages_with_the_header_repeated():
    html = document(
        (
            "one",
            "First",
            "<p>before the wide table</p>"
            + wide_table(3, 5, "Table N. Narrow")
            + wide_table(11, 120)
            + '<p class="note">note-on-the-wide-table</p><p>after the wide table</p>',
        ),
        ("two", "Second", "<p>second section</p>"),
    )
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(print_html(html, PROVENANCE))))
    pages = [(page.extract_text(), float(page.mediabox.width)) for page in reader.pages]
    wide = [text for text, width in pages if width > A4_POINTS[0] + 1]
    portrait_width, landscape_width = A4_POINTS[0], A4_POINTS[1]
    for text, width in pages:
        expected = landscape_width if text in wide else portrait_width
        assert width == pytest.approx(expected, abs=0.5)
        assert PROVENANCE["config_sha256"] in text  # the footer on every page
    assert len(wide) >= 2  # the long wide table spans landscape pages ...
    # ... with the header on each, and every row in them
    assert all("Heading-10" in text and "Table N" not in text for text in wide)
    assert "0.05 (-1.23" in wide[0] and "119.05 (-1.23" in wide[-1]
    assert "note-on-the-wide-table" in wide[-1]  # the note goes with its table
    texts = [text for text, _ in pages]
    first_landscape = texts.index(wide[0])
    assert "before the wide table" in texts[first_landscape - 1]
    assert "Table N. Narrow" in texts[first_landscape - 1]
    assert "after the wide table" in texts[first_landscape + len(wide)]
    assert pages[-1][1] == pytest.approx(portrait_width, abs=0.5)


def test_columns_are_given_widths_in_proportion_to_what_they_hold():
    interval = "-12.26 to 16.14 (-10.11 to 18.22)"
    head = "<tr><th>outcome</th><th>interval</th>" + "<th>n</th>" * 6 + "</tr>"
    row = f"<tr><td>QPR</td><td>{interval}</td>" + "<td>12</td>" * 6 + "</tr>"
    table = f"<table><thead>{head}</thead>{row * 3}</table>"
    sized = sized_columns(table, 500)
    shares = [float(w) for w in re.findall(r'<td width="([\d.]+)%"', sized)[:8]]
    assert sum(shares) == pytest.approx(100, abs=0.1)
    assert shares[1] > 3 * max(shares[2:])  # the interval column gets the room
    # laid out, the interval sits on one line (with equal widths, eight columns of 23 mm, it
    # wraps)
    pdf = render_pdf(print_html(document(("t", "Table", table)), PROVENANCE))
    lines = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text().splitlines()
    assert sum(interval in line for line in lines) == 3


def test_cells_spanning_rows_or_columns_keep_the_columns_of_the_cells_beside_them():
    table = (
        '<table><tr><th rowspan="2">a</th><th colspan="2">bc</th></tr>'
        "<tr><th>b</th><th>c</th></tr>"
        "<tr><td>1</td><td>222222222222</td><td>3</td></tr></table>"
    )
    sized = sized_columns(table, 500)
    found = re.findall(r'<t[hd] width="([\d.]+)%">([^<]+)<', sized)
    by_text = {text: float(share) for share, text in found}
    # "b" heads the second column (the one holding the long number), "c" the third
    assert by_text["b"] == by_text["222222222222"] > by_text["c"] == by_text["3"]
    assert 'colspan="2">bc' in sized  # the spanning cell is left as it was


def test_a_heading_with_a_short_lead_in_goes_with_its_wide_table_onto_the_landscape_page():
    html = document(
        ("one", "First", spacer(120, "one")),
        ("two", "Second", "<p>lead-in</p>" + wide_table(11, 5)),
        ("three", "Third", "<p>long lead-in " + "text " * 400 + "</p>" + wide_table(11, 5)),
    )
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(print_html(html, PROVENANCE))))
    pages = [(page.extract_text(), float(page.mediabox.width)) for page in reader.pages]
    (second,) = [(text, width) for text, width in pages if "2. Second" in text]
    assert second[1] == pytest.approx(A4_POINTS[1], abs=0.5) and "lead-in" in second[0]
    # a long lead-in stays on its portrait page, the table alone goes to landscape
    (third,) = [(text, width) for text, width in pages if "3. Third" in text]
    assert third[1] == pytest.approx(A4_POINTS[0], abs=0.5) and "Heading-10" not in third[0]
