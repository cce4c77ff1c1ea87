# mypy only: the tests import tests/keepalived_oracle.py through sys.path, as `keepalived_oracle`
from tests.keepalived_oracle import *  # noqa: F403 (all of it, under this name)
