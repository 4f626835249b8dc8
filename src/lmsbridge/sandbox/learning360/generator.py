"""Deterministic tenant generator: the same seed and sizes always give the same records and ids.

Distributions aim at a plausible company: most users active, a few invited or deleted; mostly
published native courses, a quarter external (from a few integrations), some archived or deleted;
attempts skewed towards popular courses, about half completed, some retakes.
"""

from __future__ import annotations

import random
from typing import Any

from lmsbridge.sandbox.learning360.attempts import NONE, NewAttempt
from lmsbridge.sandbox.learning360.clock import Clock
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.tenant import CourseMeta, Tenant
from lmsbridge.sandbox.learning360.timefmt import iso
from lmsbridge.sandbox.learning360.vocab import LANG_INDEX

# Generated history lies in a fixed window, so output does not depend on the day it is generated.
WINDOW_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
WINDOW_END_MS = 1_761_955_200_000  # 2025-11-01T00:00:00Z
_DAY = 86_400_000

FIRST = [
    "Alice",
    "Bob",
    "Chloé",
    "David",
    "Emma",
    "Farid",
    "Giulia",
    "Hugo",
    "Inès",
    "Jonas",
    "Kenji",
    "Léa",
    "Marco",
    "Nadia",
    "Omar",
    "Paula",
    "Quentin",
    "Rosa",
]
LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Schmidt",
    "Rossi",
    "García",
    "Müller",
    "Tanaka",
    "Smith",
    "Novak",
    "Kowalski",
    "Silva",
    "Jensen",
    "Okafor",
]
JOBS = ["Engineer", "Sales Rep", "Manager", "Designer", "Support Agent", "Analyst", "Nurse", "Technician"]
USER_LANG_WEIGHTS = (("en", 50), ("fr", 20), ("de", 10), ("es", 10), ("it", 5), ("nl", 5))
TOPICS = [
    "Onboarding",
    "Safety",
    "Compliance",
    "Leadership",
    "Negotiation",
    "Python",
    "Excel",
    "Security",
    "Privacy",
    "Feedback",
    "Sales",
]
PLATFORMS = ("Acme Academy", "SkillForge", "Learnwise")


def _pick_lang(rng: random.Random) -> str:
    return rng.choices([lang for lang, _ in USER_LANG_WEIGHTS], [w for _, w in USER_LANG_WEIGHTS])[0]


def generate_tenant(
    seed: int = 1,
    users: int = 200,
    courses: int = 50,
    attempts: int = 1000,
    integrations: int = 2,
    config: SandboxConfig | None = None,
    clock: Clock | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Tenant:
    """Build a tenant. Credentials default to values derived from the seed (printed by the CLI)."""
    rng = random.Random(seed)
    tenant = Tenant(seed, config, clock)
    cred_rng = random.Random(f"cred:{seed}")
    tenant.add_credential(
        client_id or f"{cred_rng.getrandbits(128):032x}", client_secret or f"{cred_rng.getrandbits(128):032x}"
    )
    _groups(tenant, rng)
    _users(tenant, rng, max(users, 2))
    _integrations(tenant, min(integrations, len(PLATFORMS)))
    _courses(tenant, rng, courses)
    _attempts(tenant, rng, attempts)
    return tenant


def _groups(tenant: Tenant, rng: random.Random) -> None:
    base_s = WINDOW_START_MS // 1000 - 86_400
    root = tenant.group_ids.next(base_s)
    tenant.groups.add(root, {"_id": root, "name": "Acme Corp", "public": False, "subdomain": "acme"})
    for i, name in enumerate(("Sales", "Engineering", "Support", "Operations")):
        gid = tenant.group_ids.next(base_s + i + 1)
        tenant.groups.add(gid, {"_id": gid, "name": name, "public": rng.random() < 0.3, "parentId": root})
    for gid in tenant.groups.ids:
        tenant.roles[gid] = []


def _users(tenant: Tenant, rng: random.Random, n: int) -> None:
    span = (WINDOW_END_MS - WINDOW_START_MS) // 1000
    created = sorted(WINDOW_START_MS // 1000 + rng.randrange(span) for _ in range(n))
    groups = tenant.groups.ids
    for i, created_s in enumerate(created):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        roll = rng.random()
        status = "active" if roll < 0.85 or i < 2 else ("invited" if roll < 0.94 else "deleted")
        user: dict[str, Any] = {}
        if rng.random() < 0.98 or i < 2:
            user["mail"] = f"{first.lower()}.{last.lower()}.{i}@acme.example"
        if rng.random() < 0.3 or "mail" not in user:
            user["username"] = f"{first.lower()}{i}"
        user["status"] = status
        user["lang"] = _pick_lang(rng)
        user["firstName"], user["lastName"] = first, last
        if rng.random() < 0.7:
            user["job"] = rng.choice(JOBS)
            user["organization"] = "Acme"
        if rng.random() < 0.2:
            user["phone"] = f"+3361{rng.randrange(10**7):07d}"
        user["primaryGroupId"] = groups[rng.randrange(len(groups))]
        if status != "invited":
            login_ms = created_s * 1000 + rng.randrange(max(1, WINDOW_END_MS - created_s * 1000))
            user["lastLoginDate"] = iso(login_ms)
        if status == "deleted":
            del_ms = created_s * 1000 + rng.randrange(max(1, WINDOW_END_MS - created_s * 1000))
            user["deletedAt"] = [iso(del_ms)]
        elif status == "active" and rng.random() < 0.01:
            # deleted once, then reactivated
            del_ms = created_s * 1000 + _DAY
            user["deletedAt"] = [iso(del_ms)]
            user["reactivatedAt"] = [iso(del_ms + 7 * _DAY)]
        record = tenant.add_user(user, created_s)
        # The first user owns the company; a few more are admins/editors (authors of courses).
        role = "owner" if i == 0 else ("admin" if i < 4 else ("editor" if rng.random() < 0.05 else "learner"))
        tenant.roles[tenant.root_group_id].append({"userId": record["_id"], "role": role})
        if user["primaryGroupId"] != tenant.root_group_id:
            tenant.roles[user["primaryGroupId"]].append({"userId": record["_id"], "role": "learner"})


def _authors(tenant: Tenant) -> list[str]:
    return [
        r["userId"] for r in tenant.roles[tenant.root_group_id] if r["role"] in ("owner", "admin", "editor")
    ]


def _integrations(tenant: Tenant, n: int) -> None:
    admin = tenant.users.ids[1]
    for i in range(n):
        iid = tenant.integration_ids.next(WINDOW_START_MS // 1000 + i)
        tenant.integrations.add(
            iid,
            {
                "_id": iid,
                "externalPlatform": PLATFORMS[i],
                "authorId": admin,
                "groupId": tenant.root_group_id,
                "defaultCompletion": False,
                "defaultProgress": 0,
                "noGroupPropagation": False,
            },
        )


def _courses(tenant: Tenant, rng: random.Random, n: int) -> None:
    authors = _authors(tenant)
    groups = tenant.groups.ids
    integrations = [i for i in tenant.integrations.items if i is not None]
    span = WINDOW_END_MS - WINDOW_START_MS
    created = sorted(WINDOW_START_MS + rng.randrange(span) for _ in range(n))
    tag_pool = [tenant.misc_ids.next(WINDOW_START_MS // 1000) for _ in range(8)]
    for i, created_ms in enumerate(created):
        topic = rng.choice(TOPICS)
        roll = rng.random()
        ctype = (
            "external" if integrations and roll < 0.25 else ("elearning standard" if roll < 0.3 else "native")
        )
        sroll = rng.random()
        status = "published" if sroll < 0.85 else ("archived" if sroll < 0.95 else "deleted")
        modified_ms = (
            created_ms + rng.randrange(max(1, WINDOW_END_MS - created_ms))
            if rng.random() < 0.6
            else created_ms
        )
        lang = "en" if rng.random() < 0.7 else _pick_lang(rng)
        author = rng.choice(authors)
        meta = CourseMeta(tag_ids=rng.sample(tag_pool, rng.randrange(3)), original_author_id=author)
        dto: dict[str, Any] = {
            "name": f"{topic} {i + 1}",
            "description": f"Everything about {topic.lower()}, part {i + 1}.",
            "duration": rng.choice((5, 10, 15, 30, 45, 60, 90)),
            "sourceLang": lang,
            "defaultLang": lang,
            "authorId": author,
            "coAuthorIds": rng.sample(authors, min(len(authors), rng.randrange(3))),
            "groupId": groups[rng.randrange(len(groups))],
            "createdAt": iso(created_ms),
            "modifiedAt": iso(modified_ms),
            "status": status,
            "type": ctype,
            "translations": [],
        }
        if ctype == "external":
            integ = integrations[i % len(integrations)]
            external_id = f"ext-{i + 1:06d}"
            dto["groupId"] = integ["groupId"]
            dto["externalPlatform"] = integ["externalPlatform"]
            meta.integration_id = integ["_id"]
            meta.external = {
                "externalId": external_id,
                "name": dto["name"],
                "launchUrl": f"https://player.example/{external_id}",
                "defaultLang": lang,
                "sources": [{"name": integ["externalPlatform"]}],
                "subjects": [topic],
                "contentType": "course",
                "description": dto["description"],
                "duration": dto["duration"],
                "imageUrl": f"https://player.example/{external_id}.png",
            }
        else:
            dto["currentVersionNumber"] = rng.randrange(1, 6)
            dto["collaborativeLearning"] = rng.random() < 0.2
            if rng.random() < 0.15:
                dto["translations"] = [
                    {
                        "lang": "fr",
                        "published": rng.random() < 0.8,
                        "translatorIds": [author],
                        "translatedFields": {"name": f"{topic} {i + 1} (fr)"},
                    }
                ]
        row = tenant.add_course(dto, meta, created_ms)
        if meta.external is not None and meta.integration_id is not None:
            tenant.external_index[(meta.integration_id, meta.external["externalId"])] = row


def _attempts(tenant: Tenant, rng: random.Random, n: int) -> None:
    """Append n attempts in creation order; done with plain lists first, then sorted once."""
    if n <= 0 or not len(tenant.courses):
        return
    learners = [i for i, u in enumerate(tenant.users.items) if u["status"] != "invited"]
    n_courses = len(tenant.courses)
    rand, randrange = rng.random, rng.randrange
    span = WINDOW_END_MS - WINDOW_START_MS - 40 * _DAY
    course_langs = [LANG_INDEX[c["defaultLang"]] for c in tenant.courses.items]
    course_versions = [c.get("currentVersionNumber", NONE) for c in tenant.courses.items]
    course_created = [int(c["_id"][:8], 16) * 1000 for c in tenant.courses.items]
    user_created = [int(u["_id"][:8], 16) * 1000 for u in tenant.users.items]
    rows: list[tuple[int, int, int, int, int, int, int, int, int]] = []
    prev: tuple[int, int, int] | None = None
    for _ in range(n):
        if prev is not None and rand() < 0.08:
            # a retake of the previous pair, starting after it ended
            course, user, after = prev
            first = after + randrange(1, 30 * _DAY)
        else:
            # popular courses get most attempts (a power law over course rows)
            course = int(n_courses * rand() ** 2.2)
            user = learners[randrange(len(learners))]
            first = max(course_created[course], user_created[user], WINDOW_START_MS + randrange(span))
        roll = rand()
        last = first + randrange(60_000, 20 * _DAY)
        if roll < 0.55:
            progress, completed = 100, last
        elif roll < 0.85:
            progress, completed = 1 + randrange(99), NONE
        else:
            progress, completed, last = 0, NONE, first
        score = randrange(40, 101) if completed != NONE and rand() < 0.7 else NONE
        time_spent = 1000 + randrange(3_600_000) if progress else randrange(1, 60_000)
        rows.append(
            (first, course, user, progress, completed, score, time_spent, last, course_versions[course])
        )
        prev = (course, user, last)
    rows.sort(key=lambda r: r[0])
    store = tenant.attempts
    for first, course, user, progress, completed, score, time_spent, last, version in rows:
        row = store.append(
            NewAttempt(
                course,
                user,
                course_langs[course],
                progress,
                time_spent,
                first,
                last,
                completed,
                score,
                version,
            ),
            first // 1000,
        )
        if rand() < 0.02:
            store.paths[row] = (f"{row:024x}", f"{row + 1:024x}")
