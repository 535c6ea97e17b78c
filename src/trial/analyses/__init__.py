"""Every analysis the workflow runs, each reading the config; compute only."""
