"""Service costs and cost-effectiveness, one module per step (each one workflow rule)."""
