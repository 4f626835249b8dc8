"""What SQLite's own write path costs for progressions, outside the sync and without any lmsbridge
code: the rows of a kept store's `lms_course_progressions`, shuffled (seed 1), inserted again with plain
`sqlite3` in pages of 500 sorted by id and stamped page by page (as the sync does) into a fresh table
with the product's pragmas, committed every GROUP rows.

Prints, per variant, CPU seconds, rows per CPU second (what SQLite alone allows the sync's single
writer) and the WAL's size. Variants (``VARIANTS``): the product's settings; 50,000-row groups; the
primary key alone (what the API's secondary indexes cost); automatic checkpoints off (the WAL then shows
how much the commits wrote in all); a 256 MiB page cache instead of 64; the user and course indexes
without their leading integration_id.

    .venv/bin/python benchmarks/insert_cost.py stores/<kept>_m.db [--repeat 2] [--variants product,…]
"""

from __future__ import annotations

import argparse
import datetime
import operator
import os
import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def as_synced(rows: list[tuple[object, ...]], columns: list[str]) -> list[tuple[object, ...]]:
    """The rows with the timestamps a sync gives them: one per 500-row page, later page by page (a
    random changed_at would scatter the changed-at index's inserts, which a sync appends)."""
    stamped = (columns.index("changed_at"), columns.index("first_seen_at"))
    start = datetime.datetime(2026, 1, 1)
    out = []
    for number, row in enumerate(rows):
        stamp = str(start + datetime.timedelta(milliseconds=40 * (number // 500)))
        out.append(tuple(stamp if i in stamped else value for i, value in enumerate(row)))
    return out


@dataclass(frozen=True)
class Variant:
    secondary_indexes: bool = True
    group: int = 10_000  # rows per COMMIT (the sync's CommitPolicy.max_records)
    checkpoint: int = 10_000  # wal_autocheckpoint pages (the product's); 0 = off
    cache_mib: int = 64  # cache_size (the product's)
    # the user and course indexes without their leading integration_id (36 characters an entry): user
    # and course ids are unique across integrations, so the filters would not need it (a proposal)
    narrow_reference_indexes: bool = False

    def indexes(self, index_sql: list[str]) -> list[str]:
        if not self.secondary_indexes:
            return []
        if not self.narrow_reference_indexes:
            return index_sql
        return [
            sql.replace("(integration_id, user_id, id)", "(user_id, id)").replace(
                "(integration_id, course_id, id)", "(course_id, id)"
            )
            for sql in index_sql
        ]


VARIANTS = {
    "product": Variant(),
    "group-50k": Variant(group=50_000),
    "primary-key-only": Variant(secondary_indexes=False),
    "no-checkpoints": Variant(checkpoint=0),
    "cache-256": Variant(cache_mib=256),
    "narrow-reference-indexes": Variant(narrow_reference_indexes=True),
}


def insert_all(
    rows: list[tuple[object, ...]], ddl: list[str], columns: list[str], variant: Variant
) -> tuple[float, int]:
    """CPU seconds of the inserts and the WAL's size at the end."""
    with tempfile.TemporaryDirectory(prefix="lmsbridge-insert-") as directory:
        path = Path(directory) / "insert.db"
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            f"wal_autocheckpoint={variant.checkpoint}",
            f"cache_size=-{variant.cache_mib * 1024}",
        ):
            db.execute(f"PRAGMA {pragma}")
        for statement in ddl:
            db.execute(statement)
        marks = ",".join("?" * len(columns))
        sql = f"INSERT INTO lms_course_progressions ({','.join(columns)}) VALUES ({marks})"
        by_id = operator.itemgetter(columns.index("id"))
        start = time.process_time()
        for offset in range(0, len(rows), 500):
            if offset % variant.group == 0:
                db.execute("BEGIN IMMEDIATE")
            db.executemany(sql, sorted(rows[offset : offset + 500], key=by_id))
            if (offset + 500) % variant.group == 0:
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
    parser.add_argument(
        "--variants",
        default="product,group-50k,primary-key-only,no-checkpoints",
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    args = parser.parse_args()
    names = args.variants.split(",")
    if unknown := [name for name in names if name not in VARIANTS]:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    source = sqlite3.connect(args.store)
    columns = [row[1] for row in source.execute("PRAGMA table_info(lms_course_progressions)")]
    rows = source.execute(f"SELECT {','.join(columns)} FROM lms_course_progressions").fetchall()
    random.Random(1).shuffle(rows)
    rows = as_synced(rows, columns)
    table_sql, *index_sql = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'lms_course_progressions' AND sql IS NOT NULL"
        )
    ]
    # no foreign key to integrations (the fresh database has none)
    table_sql = table_sql.replace(
        ", \n\tFOREIGN KEY(integration_id) REFERENCES integrations (id) ON DELETE CASCADE", ""
    )
    print(f"{len(rows):,} rows; secondary indexes: {len(index_sql)}")
    for _ in range(args.repeat):
        for name in names:
            variant = VARIANTS[name]
            ddl = [table_sql, *variant.indexes(index_sql)]
            cpu, wal = insert_all(rows, ddl, columns, variant)
            print(
                f"{name:<24} {cpu:7.2f} CPU s ({len(rows) / cpu:>7,.0f} rows/s), WAL {wal / 1e6:5.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
