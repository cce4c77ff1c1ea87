"""Session-wide pytest hooks: `lab`-marked tests run inside the UML lab per session.

The hooks live in ``tests/lab_plugin.py`` (see its docstring): test support, not part of the
package. Run the lab tests alone with ``pytest tests/lab -m lab``.
"""

pytest_plugins = ["lab_plugin"]
