"""Rule render_report: the self-contained HTML report and the provenance record."""

import json

import pandas as pd

from trial.report import provenance, render_report
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
inputs = snakemake.input
truth = json.loads(open(inputs.truth[0], encoding="utf-8").read()) if inputs.truth else None
engine = pd.read_csv(inputs.traces[0])["engine"].iloc[0]
info = provenance(config, snakemake.params.config_path, list(inputs.raw))
html = render_report(
    config,
    outcomes=pd.read_csv(inputs.outcomes),
    flow=pd.read_csv(inputs.flow),
    baseline=pd.read_csv(inputs.baseline),
    figures={"forest": inputs.forest, "primary_distribution": inputs.primary},
    truth=truth,
    provenance_info=info,
    imputation_engine=engine,
)
with open(snakemake.output.html, "w", encoding="utf-8") as handle:
    handle.write(html)
with open(snakemake.output.provenance, "w", encoding="utf-8") as handle:
    json.dump(info, handle, indent=2, sort_keys=True)
log.info("report written")
