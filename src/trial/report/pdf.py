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
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trial.report.manuscript import provenance_line

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


def _font_folder() -> Path:
    """Matplotlib's folder of DejaVu fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _fonts_css() -> str:
    """DejaVu Sans (shipped with matplotlib, so every install has it) for text: the base PDF
    fonts lack Greek letters and mathematical signs the report uses."""
    folder = _font_folder()
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


# Table columns. xhtml2pdf gives a table's columns equal widths whatever they hold, so numbers
# and intervals wrap beside near-empty columns; here each column is given a share of the width
# in proportion to what it needs: its widest body cell on one line and the longest word of its
# header (headers wrap between words), plus the cells' padding, measured in the table's font. A
# column of text (a cell with a word in it, not only numbers and intervals) needs at most
# PROSE_COLUMN_MM and gives up width down to PROSE_MIN_MM when the table would not fit
# otherwise: words wrap well, numbers and intervals do not. A table that does not fit the
# portrait content frame (186 mm) even so is laid out on landscape pages.
TABLE_PT = 7.5
CELL_PADDING_PT = 2 * 0.6 * TABLE_PT  # the report's cells: 0.6em left and right
PROSE_COLUMN_MM, PROSE_MIN_MM = 45, 30
LANDSCAPE = "landscape"
# Most text between a heading and the wide table after it for the heading to go with the table
# onto its landscape page (else it would stand alone at the foot of a portrait page)
LEAD_IN_CHARS = 1200

TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)
_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.DOTALL)
_CELL = re.compile(r"<t([hd])\b([^>]*)>(.*?)</t[hd]>", re.DOTALL)
# notes that follow a table and explain it go with it onto its landscape page
_NOTES = re.compile(r'\s*(?:<p class="note"[^>]*>.*?</p>\s*)*', re.DOTALL)
_BLOCK = re.compile(r"<(?:p|table|h[1-6]|div|figure|ul|ol|pre|img|dl)\b")
_HEADING = re.compile(r"<h[23]\b")
_WORD = re.compile(r"[^\W\d_]{2,}")  # two letters or more: not a number or an interval
_NOT_LEAD_IN = re.compile(r"<(?:table|figure|img|svg|h1)\b")


def _text_width(text: str, size: float = TABLE_PT) -> float:
    """Width in points of one line of ``text`` in the report's table font."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = "trial-measure-DejaVuSans"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(_font_folder() / "DejaVuSans.ttf")))
    return pdfmetrics.stringWidth(text, name, size)


def _cell_lines(content: str) -> list[str]:
    """The lines of a cell's text: its markup removed, a ``<br>`` ending a line."""
    lines = re.split(r"<br\s*/?>", content)
    return [_html.unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in lines]


def _span(attributes: str, name: str) -> int:
    found = re.search(rf'{name}="?(\d+)', attributes)
    return int(found[1]) if found else 1


def _table_cells(table: str) -> list[tuple[re.Match[str], int | None]]:
    """Each cell of a table with its column (``None`` for a cell spanning columns), the
    columns that cells spanning rows from above hold skipped."""
    cells: list[tuple[re.Match[str], int | None]] = []
    held: dict[int, set[int]] = {}  # row -> columns held by a cell from a row above
    for r, row in enumerate(_ROW.finditer(table)):
        column = 0
        for cell in _CELL.finditer(table, row.start(1), row.end(1)):
            while column in held.get(r, ()):
                column += 1
            across, down = _span(cell[2], "colspan"), _span(cell[2], "rowspan")
            for below in range(r + 1, r + down):
                held.setdefault(below, set()).update(range(column, column + across))
            cells.append((cell, column if across == 1 else None))
            column += across
    return cells


@dataclass(frozen=True)
class Column:
    """What one table column needs, in points: at least, as a rule, and (its text on one line)
    at most; the three are one width for a column of numbers."""

    least: float
    need: float
    most: float


def table_columns(table: str) -> dict[int, Column]:
    """What each column of a table needs (see above), by column index."""
    widest: dict[int, float] = {}
    prose: set[int] = set()
    for cell, column in _table_cells(table):
        if column is None:  # a spanning cell sets no column's width
            continue
        lines = _cell_lines(cell[3])
        if cell[1] == "h":
            need = max((_text_width(w) for line in lines for w in line.split()), default=0.0)
        else:
            need = max((_text_width(line) for line in lines), default=0.0)
            if any(_WORD.search(line.replace(" to ", " ")) for line in lines):
                prose.add(column)
        widest[column] = max(widest.get(column, 0.0), need + CELL_PADDING_PT)
    return {
        column: Column(min(need, PROSE_MIN_MM * MM), min(need, PROSE_COLUMN_MM * MM), need)
        if column in prose
        else Column(need, need, need)
        for column, need in widest.items()
    }


def table_width(table: str) -> float:
    """The least width in points a table needs without wrapping its numbers (see above)."""
    return sum(c.least for c in table_columns(table).values())


def sized_columns(table: str, width: float) -> str:
    """The table with each unspanned cell's column width set, as a share of the table's width
    in proportion to what its column needs; the text columns give up width down to their least
    when the columns need more than ``width`` (points), and take up to their most when they
    need less (see above)."""
    columns = table_columns(table)
    needs = {k: c.need for k, c in columns.items()}
    excess = sum(needs.values()) - width
    # the text columns' room to give (excess > 0) or to take (excess < 0)
    room = {k: (c.need - c.least) if excess > 0 else (c.most - c.need) for k, c in columns.items()}
    if sum(room.values()) > 0:
        share = min(1.0, abs(excess) / sum(room.values()))
        needs = {k: needs[k] - math.copysign(share * room[k], excess) for k in needs}
    total = sum(needs.values())
    if not total:
        return table
    out = table
    # from the last cell back, so that earlier positions stay where they were found
    for cell, column in reversed(_table_cells(table)):
        if column is not None:
            at = cell.start() + 3  # after "<td" or "<th"
            out = f'{out[:at]} width="{100 * needs[column] / total:.2f}%"{out[at:]}'
    return out


def _frame_widths() -> tuple[float, float]:
    """The content frame's width on a portrait and on a landscape page, in points."""
    return A4_POINTS[0] - 2 * MARGIN_SIDE * MM, A4_POINTS[1] - 2 * MARGIN_SIDE * MM


def _lead_in_start(html: str, table_start: int, floor: int) -> int:
    """Where the part that goes onto a wide table's landscape page starts: the last heading
    before the table when only a short lead-in (no table or figure) lies between them, so that
    a heading is not left alone at the foot of a portrait page; else the table itself."""
    headings = [h.start() for h in _HEADING.finditer(html, floor, table_start)]
    if not headings:
        return table_start
    between = html[headings[-1] : table_start]
    text = re.sub(r"<[^>]+>", "", between)
    if _NOT_LEAD_IN.search(between) or len(text) > LEAD_IN_CHARS:
        return table_start
    # a run of headings (a section's and its first subsection's) goes together
    start = headings[-1]
    for earlier in reversed(headings[:-1]):
        if re.sub(r"<[^>]+>", "", html[earlier:start]).strip() and not re.fullmatch(
            r"\s*<h[23]\b[^>]*>.*?</h[23]>\s*", html[earlier:start], re.DOTALL
        ):
            break
        start = earlier
    return start


def print_tables(html: str, landscape: bool = True) -> str:
    """The HTML with every table's column widths set (:func:`sized_columns`) and, with
    ``landscape``, each table that does not fit the portrait content frame
    (:func:`table_width`) moved onto landscape pages with the notes that follow it (and the
    heading before it, :func:`_lead_in_start`); wide tables with nothing but such notes between
    them share their pages. The page before a landscape page may be left part empty: a page's
    orientation is the same from top to bottom."""
    portrait, wide_frame = _frame_widths()
    spans: list[list[int]] = []
    last_end = 0
    for match in TABLE.finditer(html):
        if not landscape or table_width(match[0]) <= portrait:
            continue
        end = _NOTES.match(html, match.end()).end()
        if spans and spans[-1][1] == match.start():
            spans[-1][1] = end
        else:
            spans.append([_lead_in_start(html, match.start(), last_end), end])
        last_end = end
    out, last = [], 0

    def sized(part: str, width: float) -> str:
        return TABLE.sub(lambda table: sized_columns(table[0], width), part)

    for start, end in spans:
        out += [
            sized(html[last:start], portrait),
            f'<pdf:nextpage name="{LANDSCAPE}" />',
            sized(html[start:end], wide_frame),
        ]
        if _BLOCK.search(html, end):  # no empty portrait page after the document's end
            out.append('<pdf:nextpage name="body" />')
        last = end
    return "".join([*out, sized(html[last:], portrait)])


def _page_css(name: str, orientation: str) -> str:
    """An A4 page template: the report's margins and the footer frame."""
    return (
        f"@page {name} {{ size: a4 {orientation}; margin: {MARGIN_TOP}mm {MARGIN_SIDE}mm "
        f"{MARGIN_BOTTOM}mm {MARGIN_SIDE}mm;\n"
        f" @frame footer {{ -pdf-frame-content: pdf-footer; bottom: 6mm; height: 9mm; "
        f"margin-left: {MARGIN_SIDE}mm; margin-right: {MARGIN_SIDE}mm; }} }}\n"
    )


def print_html(
    html: str,
    provenance: Mapping[str, Any],
    svg_files: Sequence[str | Path] = (),
    *,
    section_breaks: bool = True,
    landscape: bool = True,
) -> str:
    """The report's HTML prepared for the PDF layout.

    Adds the print style (A4, margins, fonts, headings kept with what follows), a footer naming
    the run on every page with the page number, the run in the document's metadata, column
    widths in proportion to what each table's columns hold and (with ``landscape``) the wide
    tables on landscape pages (:func:`print_tables`), and (with ``section_breaks``) before each
    section heading a page break taken when less than half the content frame is left; draws the
    inline SVG figures from ``svg_files`` (their files, in the order the HTML inlines them).
    """
    html = print_tables(_svg_images(html, svg_files), landscape)
    line = _html.escape(provenance_line(provenance))
    keywords = _html.escape(
        f"config-sha256:{provenance['config_sha256']}, code:{provenance['code_version']}, "
        f"seed:{provenance['seed']}"
    )
    style = (
        "<style>\n"
        + _fonts_css()
        + _page_css("", "portrait")
        + _page_css(LANDSCAPE, "landscape")
        + f'body {{ font-family: "DejaVu Sans"; font-size: {BODY_PT}pt; max-width: none; '
        "margin: 0; padding: 0; }\n"
        f"h2 {{ font-size: {SECTION_HEADING_PT}pt; }} h3 {{ font-size: {BODY_PT + 1}pt; }}\n"
        'pre, code { font-family: "DejaVu Sans Mono"; font-size: 7pt; }\n'
        "h1, h2, h3 { -pdf-keep-with-next: true; }\n"
        # a caption kept with its table would move a table that fits on one page to the next
        # page whole, leaving the rest of this one empty; the table's header row repeats instead
        "caption { page-break-after: auto; -pdf-keep-with-next: false; }\n"
        # the report's print style gives links 'color: inherit', which xhtml2pdf cannot resolve
        "a { color: #222; text-decoration: none; }\n"
        f"h2 {{ margin-top: 10pt; }} table {{ font-size: {TABLE_PT}pt; }}\n"
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

    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    # xhtml2pdf logs every CSS property it does not implement (screen-only layout here)
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    _register_conditional_break()
    fonts = _font_folder()
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
