"""lvstop's benchmarks: run each from the checkout as ``.venv/bin/python -m bench.NAME``."""
