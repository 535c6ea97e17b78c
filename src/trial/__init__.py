"""trial: analysis of cluster-randomised trials.

The library holds all statistics; the Snakemake workflow only calls it.
"""

__version__ = "0.1.0"
