"""The report as an A4 PDF, laid out from the same HTML as ``report.html``.

xhtml2pdf (pure Python, on ReportLab) lays the HTML out, so the PDF holds exactly what the HTML
report shows and installs with pip alone. Table headers (``<thead>``) repeat on every page a table
spans. The page-break rule is written here because no HTML-to-PDF library offers it: a section
starts on a new page when less than half of the page's content frame is left below what precedes
its heading, and continues on the same page otherwise, so a page is never left more than half
empty between sections. ReportLab decides this as it lays the page out (a conditional page break
before each section heading), so the document is laid out once (:func:`write_pdf`).

Every page's footer names the run (config hash, code version, seed) and the PDF's subject and
keywords carry the same record.
"""

from __future__ import annotations

import html as _html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trial.manuscript import provenance_line

# A4 in points and the report's page margins (mm): content frame 273 mm tall less the footer.
A4_POINTS = (595.28, 841.89)
MM = 72 / 25.4
MARGIN_TOP, MARGIN_SIDE, MARGIN_BOTTOM = 14, 12, 18

SECTION_HEADING = re.compile(r'<h2 id="([^"]+)">')
# Font size of section headings (h2), larger than any other text but the title, so that a
# heading is told from the same words in a table or the contents list
SECTION_HEADING_PT = 11
BODY_PT = 8.5


@dataclass(frozen=True)
class PageLayout:
    """Where content sits on one page, in points from the bottom edge."""

    texts: tuple[tuple[str, float, float], ...]  # each text run, its baseline height, font size
    images: tuple[tuple[float, float], ...] = ()  # each image's lower and upper edge

    def _heights(self) -> list[float]:
        return [y for _, y, _ in self.texts] + [y for edges in self.images for y in edges]

    @property
    def top(self) -> float:
        """Highest point of any text or image (0 on an empty page)."""
        return max(self._heights(), default=0.0)

    @property
    def bottom(self) -> float:
        """Lowest point of any text or image (0 on an empty page)."""
        return min(self._heights(), default=0.0)

    def bottom_above(self, height: float) -> float | None:
        """Lowest point of the text and images entirely above ``height``: where the content
        before something placed at ``height`` ends on this page (``None`` if nothing is)."""
        above = [y for _, y, _ in self.texts if y > height]
        above += [low for low, _ in self.images if low > height]
        return min(above, default=None)

    def heading_height(self, title: str, min_size: float = 0.0) -> float | None:
        """The baseline height of the text run of at least ``min_size`` points that starts with
        ``title``, if on this page (the size tells a heading from the same words in a table)."""
        number = title.split(" ", 1)[0]
        for text, y, size in self.texts:
            if size < min_size:
                continue
            run = text.strip()
            # a heading that wraps starts with its number and a prefix of its title
            if run.startswith(title) or (
                title.startswith(run) and run.startswith(number + " ") and len(run) > 8
            ):
                return y
        return None


def _fonts_css() -> str:
    """DejaVu Sans (shipped with matplotlib, so every install has it) for text: the base PDF
    fonts lack Greek letters and mathematical signs the report uses."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = [
        ("normal", "normal", "DejaVuSans.ttf"),
        ("bold", "normal", "DejaVuSans-Bold.ttf"),
        ("normal", "italic", "DejaVuSans-Oblique.ttf"),
        ("bold", "italic", "DejaVuSans-BoldOblique.ttf"),
    ]
    css = "".join(
        f'@font-face {{ font-family: "DejaVu Sans"; font-weight: {weight}; '
        f'font-style: {style}; src: url("{(folder / name).as_uri()}"); }}\n'
        for weight, style, name in faces
    )
    mono = (folder / "DejaVuSansMono.ttf").as_uri()
    return css + f'@font-face {{ font-family: "DejaVu Sans Mono"; src: url("{mono}"); }}\n'


INLINE_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)

# Width of a figure drawn from an SVG file, in mm (the content frame is 186 mm wide).
SVG_WIDTH_MM = 180


def _svg_images(html: str, svg_files: Sequence[str | Path]) -> str:
    """Each inline SVG replaced by an image of its file (xhtml2pdf draws an SVG file, as vector
    graphics, but not SVG markup inlined in the HTML), at the width of the page and the
    markup's aspect ratio."""
    found = INLINE_SVG.findall(html)
    if len(found) != len(svg_files):
        raise ValueError(
            f"the report inlines {len(found)} SVG figure(s) but {len(svg_files)} SVG file(s) "
            "were given to draw them in the PDF"
        )
    for markup, file in zip(found, svg_files, strict=True):
        box = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"', markup)
        height = SVG_WIDTH_MM * float(box[2]) / float(box[1])
        image = (
            f'<img src="{Path(file).resolve()}" '
            f'style="width: {SVG_WIDTH_MM}mm; height: {height:.1f}mm">'
        )
        html = html.replace(markup, image, 1)
    return html


def print_html(
    html: str,
    provenance: Mapping[str, Any],
    svg_files: Sequence[str | Path] = (),
    *,
    section_breaks: bool = True,
) -> str:
    """The report's HTML prepared for the PDF layout.

    Adds the print style (A4, margins, fonts, headings kept with what follows), a footer naming
    the run on every page with the page number, the run in the document's metadata, and (with
    ``section_breaks``) before each section heading a page break taken when less than half the
    content frame is left; draws the inline SVG figures from ``svg_files`` (their files, in the
    order the HTML inlines them).
    """
    html = _svg_images(html, svg_files)
    line = _html.escape(provenance_line(provenance))
    keywords = _html.escape(
        f"config-sha256:{provenance['config_sha256']}, code:{provenance['code_version']}, "
        f"seed:{provenance['seed']}"
    )
    style = (
        "<style>\n"
        + _fonts_css()
        + f"@page {{ size: a4 portrait; margin: {MARGIN_TOP}mm {MARGIN_SIDE}mm "
        f"{MARGIN_BOTTOM}mm {MARGIN_SIDE}mm;\n"
        f" @frame footer {{ -pdf-frame-content: pdf-footer; bottom: 6mm; height: 9mm; "
        f"margin-left: {MARGIN_SIDE}mm; margin-right: {MARGIN_SIDE}mm; }} }}\n"
        f'body {{ font-family: "DejaVu Sans"; font-size: {BODY_PT}pt; max-width: none; '
        "margin: 0; padding: 0; }\n"
        f"h2 {{ font-size: {SECTION_HEADING_PT}pt; }} h3 {{ font-size: {BODY_PT + 1}pt; }}\n"
        'pre, code { font-family: "DejaVu Sans Mono"; font-size: 7pt; }\n'
        "h1, h2, h3 { -pdf-keep-with-next: true; }\n"
        # a caption kept with its table would move a table that fits on one page to the next
        # page whole, leaving the rest of this one empty; the table's header row repeats instead
        "caption { page-break-after: auto; -pdf-keep-with-next: false; }\n"
        # the report's print style gives links 'color: inherit', which xhtml2pdf cannot resolve
        "a { color: #222; text-decoration: none; }\n"
        "h2 { margin-top: 10pt; } table { font-size: 7.5pt; }\n"
        "#pdf-footer { font-size: 6.5pt; color: #555; }\n"
        "</style>\n"
    )
    meta = f'<meta name="subject" content="{line}">\n<meta name="keywords" content="{keywords}">\n'
    out = html.replace("</head>", meta + style + "</head>", 1)
    out = out.replace(
        "</body>",
        f'<div id="pdf-footer">{line} Page <pdf:pagenumber> of <pdf:pagecount></div>\n</body>',
        1,
    )
    if not section_breaks:
        return out
    low, high = body_limits()
    # the body's own <h2> headings only: the footer and the head hold none
    return SECTION_HEADING.sub(
        lambda m: f'<{CONDITIONAL_BREAK} height="{(high - low) / 2:.2f}pt">{m[0]}', out
    )


CONDITIONAL_BREAK = "pdf:condpagebreak"


def _register_conditional_break() -> None:
    """Teach xhtml2pdf the tag ``<pdf:condpagebreak height="...">``: ReportLab's
    ``CondPageBreak``, a new page when less than ``height`` is left in the frame.

    xhtml2pdf has no such tag or CSS property; it finds the class of a ``pdf:`` tag by name in
    its parser module and the tag's attributes in its tag table, so the tag is added to both.
    """
    from reportlab.platypus.flowables import CondPageBreak
    from xhtml2pdf import default, parser, tags

    class pisaTagPDFCONDPAGEBREAK(tags.pisaTag):  # noqa: N801 (the name xhtml2pdf looks up)
        def start(self, c) -> None:
            c.addPara()
            c.addStory(CondPageBreak(self.attr.height))

    default.TAGS["pdfcondpagebreak"] = (0, {"height": (default.SIZE, default.MUST)})
    parser.pisaTagPDFCONDPAGEBREAK = pisaTagPDFCONDPAGEBREAK


def render_pdf(html: str, files: Iterable[str | Path] = ()) -> bytes:
    """Lay HTML out as PDF bytes (xhtml2pdf); a layout error raises.

    The layout reads no network resource and no local file but the fonts and the folders of
    ``files`` (the SVG figures the HTML names).
    """
    import logging

    import matplotlib
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    # xhtml2pdf logs every CSS property it does not implement (screen-only layout here)
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    _register_conditional_break()
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    folders = tuple(sorted({Path(f).resolve().parent for f in files}))
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=fonts, extra_roots=folders)
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if status.err:
        raise RuntimeError(f"the PDF layout failed with {status.err} error(s)")
    return out.getvalue()


def page_layouts(pdf: bytes) -> list[PageLayout]:
    """Where text and images sit on each page of a PDF.

    Text runs are placed by their baseline; an image by the square its transformation maps the
    unit square to. Vector paths (table rules, box outlines) are not counted: every one of them
    in the report sits beside text. The footer, below the content frame, is left out.
    """
    import pypdf

    footer_top = body_limits()[0] - 1

    layouts = []
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        texts: list[tuple[str, float, float]] = []
        images: list[tuple[float, float]] = []

        def on_text(text, cm, tm, font, size, texts=texts):
            if text.strip():
                texts.append((text, tm[4] * cm[1] + tm[5] * cm[3] + cm[5], size * abs(tm[3])))

        def on_operator(operator, args, cm, tm, images=images):
            if operator == b"Do":
                low, high = sorted((cm[5], cm[5] + cm[3]))
                images.append((low, high))

        page.extract_text(visitor_text=on_text, visitor_operand_before=on_operator)
        # the footer, below the content frame, is on every page and fills none of it
        layouts.append(
            PageLayout(
                texts=tuple(run for run in texts if run[1] >= footer_top),
                images=tuple(edges for edges in images if edges[0] >= footer_top),
            )
        )
    return layouts


def body_limits() -> tuple[float, float]:
    """The bottom and top of the page's content frame, in points from the bottom edge."""
    return MARGIN_BOTTOM * MM, A4_POINTS[1] - MARGIN_TOP * MM


def late_sections(html: str, layouts: list[PageLayout]) -> list[str]:
    """Ids of the sections whose heading follows, on its page, content that ends in the lower
    half of the content frame: a break before such a heading would leave a page more than half
    full. Read back from a laid-out PDF, it checks the rule :func:`write_pdf` lays out by."""
    low, high = body_limits()
    middle = (low + high) / 2
    return [
        section
        for section, page, y in _heading_positions(html, layouts)
        if (before := layouts[page].bottom_above(y)) is not None and before < middle
    ]


def new_page_sections(html: str, layouts: list[PageLayout]) -> list[str]:
    """Ids of the sections whose heading is the first thing on a page after the first."""
    return [
        section
        for section, page, y in _heading_positions(html, layouts)
        if page > 0 and layouts[page].bottom_above(y) is None
    ]


def _heading_positions(html: str, layouts: list[PageLayout]) -> list[tuple[str, int, float]]:
    """Each section heading found in the layouts: its id, page index and baseline height."""
    titles = re.findall(r'<h2 id="([^"]+)"[^>]*>(.*?)</h2>', html)
    found = []
    page = 0
    for section, title in titles:
        text = _html.unescape(re.sub(r"<[^>]+>", "", title)).strip()
        # headings appear in order: search from the page of the previous one
        for i in range(page, len(layouts)):
            y = layouts[i].heading_height(text, min_size=SECTION_HEADING_PT - 0.5)
            if y is not None:
                page = i
                found.append((section, i, y))
                break
    return found


def write_pdf(
    html: str,
    provenance: Mapping[str, Any],
    path: str | Path,
    svg_files: Sequence[str | Path] = (),
) -> list[str]:
    """Write the report's PDF and return the sections that start a new page; the figures the
    HTML inlines as SVG are drawn from ``svg_files`` (:func:`print_html`).

    The document is laid out once: before each section heading, ReportLab moves to a new page
    when less than half the content frame is left (:func:`print_html`), so each decision is
    taken on the page as laid out so far, after every earlier break.
    """
    pdf = render_pdf(print_html(html, provenance, svg_files), svg_files)
    Path(path).write_bytes(pdf)
    return new_page_sections(html, page_layouts(pdf))
