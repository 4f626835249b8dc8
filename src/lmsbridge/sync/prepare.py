"""The pure half of writing a page: mapping (the connector's), ids, content hashes and JSON text,
without the database.

Large pages of every stream are prepared in another process (``sync/preparer.py``), so that this CPU
work overlaps the writer's; a stream whose mapping reads the run's memory (not ``Stream.maps_alone``)
sends that memory along. Imports nothing of SQLAlchemy: a
preparation process stays small.
"""

from __future__ import annotations

from typing import Any

from lmsbridge.connectors.base import MapContext, PageMapping
from lmsbridge.store.rows import PreparedRows, prepare_rows

Dto = dict[str, Any]


def prepare_page(
    map_page: PageMapping,
    integration_id: str,
    items: list[Dto],
    ctx: MapContext,
) -> dict[str, PreparedRows | None]:
    """A page's records by model, as the rows the store writes."""
    return {model: prepare_rows(integration_id, records) for model, records in map_page(items, ctx).items()}
