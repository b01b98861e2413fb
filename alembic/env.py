"""The ``alembic`` command's environment, run from the repository root (see ``alembic.ini``).

It hands over to the service's own environment, ``api/migrations/env.py``, which ships in the wheel:
the command line and ``helpdesk migrate`` then migrate the same way (same lock, same metadata).
"""

import runpy

runpy.run_module("api.migrations.env", run_name="__main__")
