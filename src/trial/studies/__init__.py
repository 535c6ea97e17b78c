"""Synthetic data and simulation studies, which run the analyses."""
