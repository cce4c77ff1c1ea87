"""Session-wide pytest hooks: `lab`-marked tests run inside one UML lab VM per session.

The hooks live in ``lvstop.lab.pytest_plugin`` (see its docstring); this file only exposes
them to pytest. Run the lab tests alone with ``pytest tests/lab -m lab``.
"""

from lvstop.lab.pytest_plugin import (  # noqa: F401
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_collectreport,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_logreport,
    pytest_runtest_protocol,
    pytest_runtestloop,
    pytest_sessionfinish,
    pytest_unconfigure,
)
