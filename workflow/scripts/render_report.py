"""Rule render_report: the self-contained HTML report, the same report as an A4 PDF, its Word
export (summary, Tables 1 and 2), the tables for a manuscript with display columns and the run in
every row, and the provenance record."""

import json

import pandas as pd

from trial.report.manuscript import publication_tables, write_docx, write_publication_tables
from trial.report.pdf import write_pdf
from trial.report.render import build_sections, provenance, render_report
from trial.report.sections.outcomes import (
    build_outcome_table,
    build_summary,
    reader_points,
    robustness_rows,
)
from trial.report.sections.stepped import stepped_summary
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
inputs = dict(snakemake.input.items())
inputs["provenance_info"] = provenance(config, snakemake.params.config_path, list(inputs["raw"]))
inputs["table_rules"] = snakemake.params.table_rules
# a stepped-wedge or crossover design has its own section and summary, and no Tables 1 and 2
scheduled = bool(inputs.get("stepped_wedge"))
sections = build_sections(config, inputs)
log.info("sections: %s", [s.id for s in sections])
if scheduled:
    summary, robustness, points, svg_files = stepped_summary(config, inputs), [], [], []
else:
    summary = build_summary(config, inputs)
    robustness, points = robustness_rows(config, inputs), reader_points(config, inputs)
    svg_files = [inputs["flow_figure"]]
html = render_report(config, sections, summary, robustness, points)
with open(snakemake.output.html, "w", encoding="utf-8") as handle:
    handle.write(html)
breaks = write_pdf(html, inputs["provenance_info"], snakemake.output.pdf, svg_files=svg_files)
log.info("PDF sections starting a new page: %s", breaks)
with open(snakemake.output.provenance, "w", encoding="utf-8") as handle:
    json.dump(inputs["provenance_info"], handle, indent=2, sort_keys=True)
if not scheduled:
    table2 = build_outcome_table(config, inputs)
    write_docx(
        config,
        summary,
        pd.read_csv(inputs["baseline"], dtype=str, keep_default_na=False),
        table2,
        inputs["provenance_info"],
        snakemake.output.docx,
    )
    write_publication_tables(
        publication_tables(inputs, table2, inputs["provenance_info"]), snakemake.output.publication
    )
