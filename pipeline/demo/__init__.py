"""The demo: the whole flow on generated data."""
