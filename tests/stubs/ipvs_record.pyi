# mypy only: the tests import tests/ipvs_record.py through sys.path, as `ipvs_record`
from tests.ipvs_record import *  # noqa: F403 (all of it, under this name)
