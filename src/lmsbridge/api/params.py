"""Query parameters of the LMS list endpoints, named and constrained exactly as in Kombo's spec."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Query

from lmsbridge.api.errors import input_invalid

# Kombo's pattern for updated_after: a date, optionally a time with fraction, optionally "Z".
UPDATED_AFTER_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?)?Z?$"
_UPDATED_AFTER = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?Z?$", flags=re.ASCII
)
MAX_LIST_ITEMS = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 250

TrueFalse = Literal["true", "false"]


def parse_updated_after(value: str | None) -> datetime | None:
    """UTC datetime of an ``updated_after`` value; a date alone means midnight UTC, no ``Z`` means UTC."""
    if value is None:
        return None
    match = _UPDATED_AFTER.match(value)
    if match is None:
        raise input_invalid("updated_after must look like 2022-08-07T14:01:29.196Z or 2022-08-07")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise input_invalid(f"updated_after is not a valid date-time: {exc}") from exc


def reject_nul(name: str, value: str) -> None:
    """NUL bytes are never valid in ids or emails (and PostgreSQL refuses them): INPUT_INVALID, not a 500."""
    if "\x00" in value:
        raise input_invalid(f"{name} must not contain NUL characters")


def parse_list(name: str, value: str | None, *, lower: bool = False) -> tuple[str, ...] | None:
    """A comma-separated filter; absent → None (no filter), present but empty → () (matches nothing)."""
    if value is None:
        return None
    reject_nul(name, value)
    items = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if len(items) > MAX_LIST_ITEMS:
        raise input_invalid(f"{name} accepts at most {MAX_LIST_ITEMS} values")
    return tuple(item.lower() for item in items) if lower else items


@dataclass(frozen=True)
class CommonListParams:
    """The parameters every LMS list endpoint takes (FastAPI flattens them into each operation)."""

    cursor: str | None
    page_size: int
    updated_after: datetime | None
    include_deleted: bool
    ignore_unsupported_filters: bool
    ids: tuple[str, ...] | None
    remote_ids: tuple[str, ...] | None


async def common_list_params(  # async: pure parsing, no worker-thread hop
    cursor: Annotated[
        str | None,
        Query(
            description="An optional cursor string used for pagination. This can be retrieved from the "
            "`next` property of the previous page response."
        ),
    ] = None,
    page_size: Annotated[
        int,
        Query(
            ge=1, le=MAX_PAGE_SIZE, description="The number of results to return per page. Maximum is 250."
        ),
    ] = DEFAULT_PAGE_SIZE,
    updated_after: Annotated[
        str | None,
        Query(
            # declared for the OpenAPI document only: parse_updated_after checks it with a readable
            # message (a validation error would quote the regex)
            json_schema_extra={"pattern": UPDATED_AFTER_PATTERN},
            description="Only records changed after this time (`YYYY-MM-DDTHH:mm:ss.sssZ`); see the "
            "endpoint's description for which nested changes count.",
        ),
    ] = None,
    include_deleted: Annotated[
        TrueFalse, Query(description="Deleted entries are hidden unless this is `true`.")
    ] = "false",
    ignore_unsupported_filters: Annotated[
        TrueFalse,
        Query(
            description="When `true`, filters targeting fields not supported by this integration are "
            "ignored instead of filtering out all results."
        ),
    ] = "false",
    ids: Annotated[str | None, Query(description="Filter by a comma-separated list of IDs.")] = None,
    remote_ids: Annotated[
        str | None, Query(description="Filter by a comma-separated list of remote IDs.")
    ] = None,
) -> CommonListParams:
    return CommonListParams(
        cursor=cursor,
        page_size=page_size,
        updated_after=parse_updated_after(updated_after),
        include_deleted=include_deleted == "true",
        ignore_unsupported_filters=ignore_unsupported_filters == "true",
        ids=parse_list("ids", ids),
        remote_ids=parse_list("remote_ids", remote_ids),
    )
