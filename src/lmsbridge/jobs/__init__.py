"""Background work: every sync run, action task, webhook delivery, the schedule and retention is a job
of one job system (Procrastinate): on PostgreSQL its jobs live in the database and any number of worker
processes and machines run them; on SQLite the same tasks run in the process over an in-memory job store.
"""
