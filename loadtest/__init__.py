"""The load test: `.venv/bin/python loadtest/run.py` (see loadtest/README.md)."""
