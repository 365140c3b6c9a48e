"""Alembic's environment: online only, on the connection :func:`config` was given."""

from alembic import context

from webhook_app.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("tierlift's migrations run on a connection: see webhook_app.migrations")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
