"""Alembic migration scripts of the store (run programmatically by ``lmsbridge.store.migrate``)."""
