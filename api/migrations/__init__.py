"""Running the Alembic migrations from code (``helpdesk migrate``, ``serve``, the tests).

Where the migrations live, and why: the schema has to ship inside the wheel, so that ``pip install .``
followed by ``helpdesk serve`` works from any directory. A top-level package named ``alembic`` cannot
ship (it would shadow the Alembic library), so the migration environment is part of this package:

- ``api/migrations/env.py``       the environment Alembic runs (async engine, advisory lock);
- ``api/migrations/versions/``    the revision scripts; **new migrations go here**.

The repository's top-level ``alembic.ini`` and ``alembic/`` stay for the developer's ``alembic``
command (``alembic revision --autogenerate -m …`` from the repository root): ``alembic/env.py`` only
hands over to ``api/migrations/env.py``, ``alembic/script.py.mako`` is the template for new revisions,
and ``version_locations`` in ``alembic.ini`` points at ``api/migrations/versions``. The service itself
never reads the top-level files, so an installed wheel and a checkout migrate the same way.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "versions"


def alembic_config(database_url: str) -> Config:
    # No ini file: everything the service needs is set here, so nothing outside the package is read.
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(VERSIONS))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
    if head is None:
        raise RuntimeError("no Alembic revisions found")
    return head
