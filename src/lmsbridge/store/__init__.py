"""Persistence: tables, migrations, upserts with content hashes, keyset queries."""
