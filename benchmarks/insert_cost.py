"""What SQLite's write path costs for progressions, outside the sync: the rows of a kept store's
`lms_course_progressions`, shuffled (seed 1), inserted again in pages of 500 sorted by id (as the sync
does) into a fresh table with the product's pragmas, committed every GROUP rows. Prints CPU seconds and
the WAL's size per variant: with or without the UNIQUE (integration_id, remote_id) index (migration
0003 dropped it), group sizes, automatic checkpoints on or off (off: the WAL shows how much the commits
wrote in all).

    .venv/bin/python benchmarks/insert_cost.py stores/<kept>_m.db [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

UNIQUE = "UNIQUE (integration_id, remote_id)"


def insert_all(
    rows: list[tuple[object, ...]], ddl: list[str], columns: list[str], group: int, checkpoint: int
) -> tuple[float, int]:
    path = Path(tempfile.mkdtemp(prefix="lmsbridge-insert-")) / "insert.db"
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"wal_autocheckpoint={checkpoint}",
        "cache_size=-65536",
    ):
        db.execute(f"PRAGMA {pragma}")
    for statement in ddl:
        db.execute(statement)
    sql = f"INSERT INTO lms_course_progressions ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})"
    start = time.process_time()
    for offset in range(0, len(rows), 500):
        if offset % group == 0:
            db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, sorted(rows[offset : offset + 500]))
        if (offset + 500) % group == 0:
            db.execute("COMMIT")
    if db.in_transaction:
        db.execute("COMMIT")
    cpu = time.process_time() - start
    wal = os.path.getsize(f"{path}-wal")
    db.close()
    return cpu, wal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", help="an SQLite store kept by a benchmark (LMSBRIDGE_BENCH_KEEP)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    source = sqlite3.connect(args.store)
    columns = [row[1] for row in source.execute("PRAGMA table_info(lms_course_progressions)")]
    rows = source.execute(f"SELECT {','.join(columns)} FROM lms_course_progressions").fetchall()
    random.Random(1).shuffle(rows)
    table_sql, *index_sql = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'lms_course_progressions' AND sql IS NOT NULL"
        )
    ]
    # no foreign key to integrations (the fresh database has none); the UNIQUE index as a variant
    table_sql = table_sql.replace(
        ", \n\tFOREIGN KEY(integration_id) REFERENCES integrations (id) ON DELETE CASCADE", ""
    )
    table_sql = table_sql.replace(", \n\tCONSTRAINT uq_lms_course_progressions_remote " + UNIQUE, "")
    unique_sql = "CREATE UNIQUE INDEX uq_remote ON lms_course_progressions (integration_id, remote_id)"
    print(f"{len(rows):,} rows")
    for _ in range(args.repeat):
        for unique in (True, False):
            for group, checkpoint in ((10_000, 10_000), (50_000, 10_000), (10_000, 0)):
                ddl = [table_sql, *index_sql, *([unique_sql] if unique else [])]
                cpu, wal = insert_all(rows, ddl, columns, group, checkpoint)
                variant = f"unique index {'yes' if unique else 'no '}  group {group:>6,}"
                print(
                    f"{variant}  autocheckpoint {checkpoint:>6,}:  {cpu:6.2f} CPU s, WAL {wal / 1e6:5.0f} MB"
                )


if __name__ == "__main__":
    main()
