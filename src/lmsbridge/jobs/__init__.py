"""Background work: sync schedules, force-sync, action tasks. One small interface, two backends: the
in-process runner (SQLite default) and, later, a PostgreSQL queue (Procrastinate) for several workers."""
