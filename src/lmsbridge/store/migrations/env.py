"""Alembic environment: runs on the connection handed over by ``lmsbridge.store.migrate`` (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from lmsbridge.store.schema import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; use `lmsbridge migrate`")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Developer use (e.g. `alembic -c …` for autogenerate): build the engine from the configured URL.
    from lmsbridge.settings import Settings
    from lmsbridge.store.engine import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


_main()
