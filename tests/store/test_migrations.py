"""The migrated schema is exactly the declared one, on SQLite and PostgreSQL; migrating is idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from factories import BASE_TIME, progression, upsert, user
from lmsbridge.ids import random_id
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import current_revision, head_revision, upgrade_database
from lmsbridge.store.schema import Base, CourseProgression, User


def test_migrated_schema_matches_metadata(database_url: str) -> None:
    assert current_revision(database_url) is None
    assert upgrade_database(database_url) == head_revision()

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            tables = set(inspect(conn).get_table_names())
        assert set(Base.metadata.tables) | {"alembic_version"} == tables
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        first = upgrade_database(engine)
        second = upgrade_database(engine)
        assert first == second == head_revision()
    finally:
        engine.dispose()


def test_sqlite_pragmas_and_parent_directory(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "lmsbridge.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
        assert path.exists()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            # foreign keys stay enforced after a migration switched them off for batch mode
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_dropping_the_remote_id_constraint_keeps_every_record(database_url: str) -> None:
    """0003 rebuilds the record tables on SQLite: the rows must come through unchanged."""
    engine = make_engine(database_url)
    try:
        upgrade_database(engine, "0002")
        integration_id = _integration_as_of_0002(engine)
        upsert(engine, integration_id, [user(n) for n in range(1, 4)], sync_run_id=random_id(), now=BASE_TIME)
        upsert(engine, integration_id, [progression("u00001", "c1")], sync_run_id=random_id(), now=BASE_TIME)

        def snapshot() -> list[tuple[object, ...]]:
            with session_scope(engine, readonly=True) as session:
                rows = [*session.query(User).order_by(User.id), *session.query(CourseProgression)]
                return [tuple(getattr(r, c.key) for c in r.__table__.columns) for r in rows]

        before = snapshot()
        assert upgrade_database(engine) == head_revision()
        assert snapshot() == before and len(before) == 4
        with engine.connect() as conn:
            unique = inspect(conn).get_unique_constraints("lms_users")
        assert unique == []
    finally:
        engine.dispose()


def _integration_as_of_0002(engine: Engine) -> str:
    """An integration row with the columns revision 0002 has (the ORM model has later ones)."""
    integration_id = f"360learning:{random_id()}"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO integrations (id, tool, status, enabled, base_url, credentials_encrypted,"
                " settings, end_user, setup_status, qa_status, connector_state, created_at, updated_at)"
                " VALUES (:id, '360learning', 'ACTIVE', true, 'https://app.360learning.test', 'x',"
                " '{}', '{}', 'COMPLETED', 'PENDING', '{}', :now, :now)"
            ),
            {"id": integration_id, "now": BASE_TIME},
        )
    return integration_id
