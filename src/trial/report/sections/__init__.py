"""The report's sections, one module per stage: each builds its :class:`trial.report.blocks.Section`
from the result files the workflow hands it and holds the texts it renders."""

from collections.abc import Mapping
from typing import Any

Inputs = Mapping[str, Any]  # input name -> path or list of paths, as the render rule names them
