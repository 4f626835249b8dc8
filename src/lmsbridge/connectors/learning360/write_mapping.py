"""Pure request/response mapping for 360Learning writes: external courses, statistics imports, bulk results.

No I/O and no clock: times come in as arguments. Decisions (language fallback, how an import updates
an attempt instead of creating one) are written down in docs/actions.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lmsbridge.connectors.learning360.mapping import parse_datetime
from lmsbridge.connectors.writes import CourseInput as CourseInput  # re-exported for payload tests

# 360Learning's content-language enum (shared by courses, translations and the stats import).
LANGUAGES_360 = frozenset(
    {
        "am_ET",
        "ar",
        "bg",
        "bn",
        "bs",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "en_CA",
        "en_GB",
        "es",
        "es_AR",
        "es_MX",
        "et",
        "fi",
        "fr",
        "fr_CA",
        "gu",
        "he_IL",
        "hi",
        "hr",
        "ht_HT",
        "hu",
        "hy",
        "id",
        "it",
        "ja",
        "kar_MM",
        "kk",
        "km",
        "ko",
        "lo",
        "lt",
        "lv",
        "mh_MH",
        "mi",
        "mn_MN",
        "mr",
        "ms",
        "my_MM",
        "nl",
        "nl_BE",
        "nn_NO",
        "no",
        "or",
        "pa",
        "pl",
        "pt",
        "pt_BR",
        "pt_MZ",
        "rn_BI",
        "ro",
        "ru",
        "rw_RW",
        "si",
        "sk",
        "sl",
        "so_SO",
        "sr",
        "sv",
        "sw_KE",
        "ta",
        "te",
        "th",
        "ti_ET",
        "tl_PH",
        "tr",
        "uk",
        "ur",
        "uz",
        "vi",
        "yo_NG",
        "zh",
        "zh_HANT",
        "zh_tw",
    }
)
# Codes whose case does not follow ``ll_CC``.
_SPECIAL_LANGUAGES = {"zh-TW": "zh_tw", "zh-Hant": "zh_HANT", "zh-HK": "zh_HANT"}
# A language with only regional codes in the enum (``he`` → ``he_IL``): the primary subtag finds it.
_ONLY_REGIONAL = {code.split("_")[0]: code for code in sorted(LANGUAGES_360) if "_" in code}
DEFAULT_LANGUAGE = "en"

MAX_DURATION_MINUTES = 100_000
COURSES_PER_IMPORT = 10_000
STATS_PER_IMPORT = 10_000
# 360Learning rejects timeSpent < 1 (milliseconds); an enrollment records the minimum.
MIN_TIME_SPENT_MS = 1
_OBJECT_ID = re.compile(r"^[a-fA-F0-9]{24}$")
_ONE_MS = timedelta(milliseconds=1)


def format_360_datetime(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` (UTC, milliseconds), the format of 360Learning's date-times."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def is_object_id(value: Any) -> bool:
    return isinstance(value, str) and _OBJECT_ID.match(value) is not None


# ---- languages -----------------------------------------------------------------------------------


def language_to_360(tag: str) -> str | None:
    """BCP-47 (``ll`` / ``ll-CC``) → 360Learning code: exact regional code, else the language alone,
    else the language's only regional code; None when 360Learning has no such language."""
    if tag in _SPECIAL_LANGUAGES:
        return _SPECIAL_LANGUAGES[tag]
    primary, _, region = tag.partition("-")
    primary = primary.lower()
    if region and f"{primary}_{region.upper()}" in LANGUAGES_360:
        return f"{primary}_{region.upper()}"
    if primary in LANGUAGES_360:
        return primary
    return _ONLY_REGIONAL.get(primary)


def languages_to_360(tags: Sequence[str] | None) -> tuple[str, list[str], list[str]]:
    """(defaultLang, other languages, dropped tags): the first mappable tag is the default language;
    without any, ``en``."""
    mapped: list[str] = []
    dropped: list[str] = []
    for tag in tags or ():
        code = language_to_360(tag)
        if code is None:
            dropped.append(tag)
        elif code not in mapped:
            mapped.append(code)
    if not mapped:
        return DEFAULT_LANGUAGE, [], dropped
    return mapped[0], mapped[1:], dropped


# ---- courses -------------------------------------------------------------------------------------


def external_course_item(origin_id: str, course: CourseInput, provider_name: str) -> dict[str, Any]:
    """The full ``ExternalCourseDTO`` (an upsert replaces the course, so every field is sent each time)."""
    default_lang, others, _ = languages_to_360(course.languages)
    item: dict[str, Any] = {
        "externalId": origin_id,
        "name": course.title,
        "launchUrl": course.course_url,
        "defaultLang": default_lang,
        "sources": [{"name": provider_name}],
        "subjects": [],
        "contentType": "course",
    }
    if course.description:  # minLength 1 at 360Learning
        item["description"] = course.description
    if course.thumbnail_url:
        item["imageUrl"] = course.thumbnail_url
    if course.duration is not None and course.duration > 0:
        item["duration"] = min(course.duration, MAX_DURATION_MINUTES)
    if others:
        # all translated fields are optional: the default-language values apply to the other languages
        item["translations"] = [{"lang": lang, "translatedFields": {}} for lang in others]
    return item


# ---- statistics imports (enroll, complete) --------------------------------------------------------


def _identifiers(user_id: str, course_id: str) -> dict[str, Any]:
    return {
        "courseIdentifier": {"type": "internalId", "value": course_id},
        "userIdentifier": {"type": "internalId", "value": user_id},
    }


def enroll_stat_item(user_id: str, course_id: str, enrolled_at: datetime) -> dict[str, Any]:
    """An import that creates a first attempt at progress 0 (no attempt exists for the pair)."""
    at = format_360_datetime(enrolled_at)
    return {
        **_identifiers(user_id, course_id),
        "progress": 0,
        "timeSpent": MIN_TIME_SPENT_MS,
        "firstActivityAt": at,
        "lastActivityAt": at,
    }


def _open_attempt(attempts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The latest non-completed attempt (by last activity, then id)."""
    open_ = [a for a in attempts if not a.get("completedAt")]
    if not open_:
        return None
    return max(open_, key=lambda a: (str(a.get("lastActivityAt") or ""), str(a.get("_id"))))


def complete_stat_item(
    user_id: str,
    course_id: str,
    *,
    attempts: Sequence[Mapping[str, Any]],
    enrolled_at: datetime | None,
    completed_at: datetime,
    score: int | None,
) -> dict[str, Any]:
    """An import that completes the open attempt instead of creating a new one.

    360Learning updates non-completed attempts whose ``lastActivityAt`` is later than the import's
    ``firstActivityAt``, so ``firstActivityAt`` is kept strictly before the attempt's last activity
    (and never after ``completed_at``). Without a known attempt (an enrollment still being imported),
    the enrollment time stands in for it: the enroll import's attempt then has exactly that end.
    """
    attempt = _open_attempt(attempts)
    candidates = [completed_at]
    time_spent = MIN_TIME_SPENT_MS
    if attempt is not None:
        first = parse_datetime(attempt.get("firstActivityAt"))
        last = parse_datetime(attempt.get("lastActivityAt")) or first
        candidates.extend(d for d in (first, last - _ONE_MS if last else None) if d is not None)
        spent = attempt.get("timeSpent")
        if isinstance(spent, int | float) and spent >= MIN_TIME_SPENT_MS:
            time_spent = int(spent)
    elif enrolled_at is not None:
        candidates.append(enrolled_at - _ONE_MS)
    first_activity = min(candidates)
    item: dict[str, Any] = {
        **_identifiers(user_id, course_id),
        "progress": 100,
        "result": "success",
        "timeSpent": time_spent,
        "firstActivityAt": format_360_datetime(first_activity),
        "lastActivityAt": format_360_datetime(max(completed_at, first_activity)),
    }
    if score is not None:
        item["score"] = score
    return item


# ---- bulk operations -----------------------------------------------------------------------------

FINISHED_STATES = frozenset({"completed", "error"})


def operation_id_from_location(location: str | None) -> str:
    """The bulk operation id: the last path segment of the 202's ``Location`` header."""
    if not location:
        raise ValueError("the bulk submit answered without a Location header")
    segment = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not segment:
        raise ValueError(f"no operation id in Location {location!r}")
    return segment


def input_key(item: Any) -> str:
    """Canonical JSON of a submitted item: results come in unspecified order and are matched by input."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    ok: bool
    resource_id: str | None = None
    error: str | None = None


def match_results(submitted: Iterable[Any], results: Any) -> dict[str, ItemOutcome]:
    """Outcome per submitted item (by ``input_key``); an item missing from the results failed."""
    by_key: dict[str, ItemOutcome] = {}
    for entry in results if isinstance(results, list) else []:
        if not isinstance(entry, dict):
            continue
        key = input_key(entry.get("input"))
        if entry.get("status") == "success":
            resource = entry.get("resourceId")
            by_key[key] = ItemOutcome(True, resource_id=str(resource) if resource is not None else None)
        else:
            by_key[key] = ItemOutcome(False, error=str(entry.get("errorMessage") or "the item failed"))
    return {
        key: by_key.get(key, ItemOutcome(False, error="360Learning reported no result for this item"))
        for key in (input_key(item) for item in submitted)
    }


# ---- the connector's own 360Learning integration ---------------------------------------------------


def root_group_id(groups: Iterable[Mapping[str, Any]]) -> str | None:
    """The root group: the one without ``parentId``."""
    for group in groups:
        if not group.get("parentId") and group.get("_id"):
            return str(group["_id"])
    return None


# Roles allowed to author an integration's content, in order of preference.
AUTHOR_ROLES = ("admin", "owner", "editor")


def pick_author(roles: Iterable[Mapping[str, Any]]) -> str | None:
    """An admin (else owner, else editor) of the group, the lowest id first for stability."""
    by_role: dict[str, list[str]] = {}
    for role in roles:
        user = role.get("userId")
        if isinstance(user, str):
            by_role.setdefault(str(role.get("role")), []).append(user)
    for name in AUTHOR_ROLES:
        if by_role.get(name):
            return min(by_role[name])
    return None


def integration_create_body(provider_name: str, group_id: str, author_id: str) -> dict[str, Any]:
    """The connector's integration: completion only from imports (no auto-completion at launch)."""
    return {
        "externalPlatform": provider_name,
        "groupId": group_id,
        "authorId": author_id,
        "defaultCompletion": False,
        "defaultProgress": 0,
    }
