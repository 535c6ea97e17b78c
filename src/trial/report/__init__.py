"""The report: its sections (:mod:`trial.report.sections`), its figures
(:mod:`trial.report.figures`) and their assembly into one HTML file (:mod:`trial.report.render`).

The analyses compute; this package presents what they wrote: it reads result tables and
intermediate files and computes no statistic.
"""
