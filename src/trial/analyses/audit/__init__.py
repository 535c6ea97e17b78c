"""The repeated-measures casenote audit: data, models and their fits."""
