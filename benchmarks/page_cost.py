"""CPU per page of the course-progressions read path in one process, no HTTP: `list_course_progressions`
in its own read transaction, walking pages from the start of a kept store (as figure 6's clients do).
Shows what the query path costs apart from the server
(figure 6 measures both); `--page-size 1` shows the fixed cost of a page.

    .venv/bin/python benchmarks/page_cost.py --url sqlite:////…/stores/<kept>_l.db [--pages 300]
        [--page-size 250] [--variant none|user_ids|updated_after]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime

from sqlalchemy import select

from fig6_read_api import store_sample
from lmsbridge.store import queries
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.schema import CourseProgression


def walk(
    url: str, variant: str, pages: int, page_size: int, sample: tuple[list[str], datetime]
) -> tuple[float, int]:
    """CPU ms per page, rows served; ``sample``: what the filters are drawn from (``store_sample``)."""
    engine = make_engine(url)
    try:
        with session_scope(engine, readonly=True) as session:
            integration_id = session.scalars(select(CourseProgression.integration_id).limit(1)).one()
        users, middle = sample
        rng = random.Random(1)
        filters = queries.ListFilters()
        if variant == "updated_after":
            filters = queries.ListFilters(updated_after=middle)
        after: str | None = None
        served = 0
        start = time.process_time()
        for _ in range(pages):
            if variant == "user_ids":  # a new walk of 10 users per page, as figure 6's parameter sets
                filters, after = queries.ListFilters(user_ids=tuple(rng.sample(users, 10))), None
            with session_scope(engine, readonly=True) as session:
                page = queries.list_course_progressions(session, integration_id, filters, after, page_size)
            served += len(page.items)
            after = page.next_after
        return (time.process_time() - start) / pages * 1000, served
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="a kept SQLite store (LMSBRIDGE_BENCH_KEEP)")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--variant", default="none", choices=["none", "user_ids", "updated_after"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sample = store_sample(args.url)  # once: a DISTINCT over every progression of the store
    for _ in range(args.repeat):
        ms, served = walk(args.url, args.variant, args.pages, args.page_size, sample)
        print(
            f"{args.variant}, page_size {args.page_size}: {ms:.2f} CPU ms per page "
            f"({args.pages} pages, {served} rows)",
            flush=True,
        )


if __name__ == "__main__":
    main()
