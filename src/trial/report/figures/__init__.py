"""The report's figures, one module per stage, drawn with matplotlib's Figure API (no pyplot
state, no backend chosen at import) and written by :func:`trial.report.blocks.save_figure`."""
