"""alembic environment: always run with a connection handed in by ``server.db.migrate``."""

from alembic import context

import server.app  # noqa: F401  (its TABLES put every domain's tables on the metadata)
from server.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
