# mypy only: the tests import tests/ipvs_oracle.py through sys.path, as `ipvs_oracle`
from tests.ipvs_oracle import *  # noqa: F403 (all of it, under this name)
