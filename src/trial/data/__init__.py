"""Reading, validating and scoring raw tables; typed intermediate files."""
