"""The trial's vocabulary and its config: loading, the schema and every check."""
