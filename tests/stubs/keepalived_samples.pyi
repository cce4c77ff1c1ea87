# mypy only: the tests import tests/keepalived_samples.py through sys.path, as `keepalived_samples`
from tests.keepalived_samples import *  # noqa: F403 (all of it, under this name)
