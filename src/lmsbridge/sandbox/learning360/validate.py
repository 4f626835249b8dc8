"""Validation of write bodies and bulk items (what the vendor's request schemas declare)."""

from __future__ import annotations

from typing import Any

from lmsbridge.sandbox.learning360.oid import is_object_id
from lmsbridge.sandbox.learning360.timefmt import parse_iso
from lmsbridge.sandbox.learning360.vocab import CONTENT_LANGS, CONTENT_TYPES

INTEGRATION_FIELDS = {
    "externalPlatform",
    "authorId",
    "groupId",
    "defaultCompletion",
    "defaultProgress",
    "noGroupPropagation",
    "externalPlatformLogoUrl",
    "externalPlatformUnicolorLogoUrl",
}
EXTERNAL_COURSE_FIELDS = {
    "externalId",
    "name",
    "launchUrl",
    "defaultLang",
    "sources",
    "subjects",
    "contentType",
    "description",
    "difficultyLevel",
    "duration",
    "imageUrl",
    "mobileLaunchUrl",
    "authorId",
    "translations",
}
STATS_FIELDS = {
    "courseIdentifier",
    "userIdentifier",
    "progress",
    "timeSpent",
    "firstActivityAt",
    "lastActivityAt",
    "score",
    "result",
    "lang",
    "forceNew",
}


def _str(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 1


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integration_problem(body: Any, partial: bool) -> str | None:
    if not isinstance(body, dict):
        return "The body must be an object."
    extra = set(body) - INTEGRATION_FIELDS
    if extra:
        return f"Unexpected properties: {sorted(extra)}."
    if not partial:
        missing = {"externalPlatform", "authorId", "groupId"} - set(body)
        if missing:
            return f"Missing properties: {sorted(missing)}."
    for key in ("authorId", "groupId"):
        if key in body and not (isinstance(body[key], str) and is_object_id(body[key])):
            return f"'{key}' must be an ObjectId."
    for key in ("externalPlatform", "externalPlatformLogoUrl", "externalPlatformUnicolorLogoUrl"):
        if key in body and not _str(body[key]):
            return f"'{key}' must be a non-empty string."
    for key in ("defaultCompletion", "noGroupPropagation"):
        if key in body and not isinstance(body[key], bool):
            return f"'{key}' must be a boolean."
    if "defaultProgress" in body and not (
        isinstance(body["defaultProgress"], int) and 0 <= body["defaultProgress"] <= 100
    ):
        return "'defaultProgress' must be an integer between 0 and 100."
    return None


def external_course_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "Each input element must be an object."
    extra = set(item) - EXTERNAL_COURSE_FIELDS
    if extra:
        return f"Unexpected properties: {sorted(extra)}."
    for key in ("externalId", "name", "launchUrl"):
        if not _str(item.get(key)):
            return f"'{key}' must be a non-empty string."
    if item.get("defaultLang") not in CONTENT_LANGS:
        return "'defaultLang' must be a supported language."
    sources = item.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, dict) and _str(s.get("name")) for s in sources):
        return "'sources' must be an array of {name}."
    subjects = item.get("subjects")
    if not isinstance(subjects, list) or not all(_str(s) for s in subjects):
        return "'subjects' must be an array of non-empty strings."
    if "contentType" in item and item["contentType"] not in CONTENT_TYPES:
        return "'contentType' is not supported."
    if "difficultyLevel" in item and item["difficultyLevel"] not in ("advanced", "beginner", "intermediate"):
        return "'difficultyLevel' is not supported."
    if "duration" in item and not (isinstance(item["duration"], int) and 1 <= item["duration"] <= 100_000):
        return "'duration' must be an integer between 1 and 100000."
    for key in ("description", "imageUrl", "mobileLaunchUrl"):
        if key in item and not _str(item[key]):
            return f"'{key}' must be a non-empty string."
    if "authorId" in item and not (isinstance(item["authorId"], str) and is_object_id(item["authorId"])):
        return "'authorId' must be an ObjectId."
    translations = item.get("translations", [])
    if not isinstance(translations, list) or not all(
        isinstance(t, dict) and t.get("lang") in CONTENT_LANGS and isinstance(t.get("translatedFields"), dict)
        for t in translations
    ):
        return "'translations' must be an array of {lang, translatedFields}."
    return None


def stats_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "Each input element must be an object."
    extra = set(item) - STATS_FIELDS
    if extra:
        return f"Unexpected properties: {sorted(extra)}."
    for key, kinds in (
        ("courseIdentifier", ("externalId", "internalId")),
        ("userIdentifier", ("mail", "internalId")),
    ):
        ident = item.get(key)
        if not isinstance(ident, dict) or ident.get("type") not in kinds or not _str(ident.get("value")):
            return f"'{key}' must be {{type: {'|'.join(kinds)}, value}}."
    progress: Any = item.get("progress")
    if not _num(progress) or not 0 <= progress <= 100 or int(progress) != progress:
        return "'progress' must be an integer between 0 and 100."
    if not _num(item.get("timeSpent")) or item["timeSpent"] < 1:
        return "'timeSpent' must be a number greater than or equal to 1."
    for key in ("firstActivityAt", "lastActivityAt"):
        if not isinstance(item.get(key), str) or parse_iso(item[key]) is None:
            return f"'{key}' must be a date (YYYY-MM-DDThh:mm:ss.sssZ)."
    if "score" in item and (not _num(item["score"]) or not 0 <= item["score"] <= 100):
        return "'score' must be a number between 0 and 100."
    if "result" in item and item["result"] not in ("success", "failed"):
        return "'result' must be success or failed."
    if "lang" in item and item["lang"] not in CONTENT_LANGS:
        return "'lang' must be a supported language."
    if "forceNew" in item and not isinstance(item["forceNew"], bool):
        return "'forceNew' must be a boolean."
    return None
