#!/usr/bin/env python3
"""Write N benchmark contacts as NDJSON, deterministically (seeded; no real clock).

    python benchmarks/generate.py [--contacts N] [--seed S] [--out FILE]

The shape follows the performance issue's reference database, per 1,000,000 contacts:

- 3,000,000 data points: `plan`, `country` and `score` (0–99, uniform, so
  `score < 10` selects about 10%) on every contact;
- about 2,000,000 tag links from a pool of 50 tags (0–4 per contact, popular tags
  far more common than rare ones, as in real catalogs);
- 100,000 conversations (10% of contacts have one) with 300,000 messages;
- mixed activity: 10% never seen, 40% in the last month, the rest spread over three
  years (so `last_seen_at < now - 365d` splits a selection into unequal halves);
- about 1% blocked.

Written as it is made: memory stays flat for any N. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_CONTACTS = 1_000_000
DEFAULT_SEED = 20261101
REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)  # the benchmark's CRMCTL_NOW
REFERENCE_TS = int(REFERENCE.timestamp())
DAY = 86400
HISTORY = 3 * 365 * DAY

FIRST = [
    "anna",
    "lukas",
    "marie",
    "jonas",
    "sophie",
    "felix",
    "emma",
    "paul",
    "lea",
    "hugo",
    "chloe",
    "louis",
    "olivia",
    "james",
    "amelia",
    "oliver",
    "isla",
    "harry",
    "liam",
    "noah",
    "ava",
    "mia",
    "ethan",
    "zoe",
    "jose",
    "lucia",
    "mateo",
    "sofia",
    "giulia",
    "marco",
    "sven",
    "astrid",
    "piotr",
    "zofia",
    "aarav",
    "priya",
]
LAST = [
    "muller",
    "schmidt",
    "fischer",
    "weber",
    "martin",
    "bernard",
    "dubois",
    "moreau",
    "smith",
    "jones",
    "taylor",
    "brown",
    "garcia",
    "miller",
    "davis",
    "rossi",
    "lopez",
    "nilsson",
    "nowak",
    "sharma",
    "patel",
    "tanaka",
    "wang",
    "murphy",
    "jansen",
    "devries",
]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "proton.me",
    "acme.com",
    "globex.com",
    "initech.io",
    "contoso.com",
]
PLANS = ["free"] * 40 + ["trial"] * 15 + ["pro"] * 25 + ["paid"] * 12 + ["enterprise"] * 8
COUNTRIES = (
    ["DE"] * 22
    + ["US"] * 24
    + ["FR"] * 12
    + ["GB"] * 12
    + ["NL"] * 5
    + ["ES"] * 5
    + ["IT"] * 4
    + ["SE"] * 3
    + ["PL"] * 3
    + ["CA"] * 3
    + ["AU"] * 2
    + ["JP"] * 2
    + ["IN"] * 2
    + ["BR"] * 1
)
# 50 tags; the earlier ones are the popular ones.
TAGS = [
    "newsletter",
    "customer",
    "churned",
    "trial-active",
    "vip",
    "beta",
    "webinar-2026",
    "partner",
    "at-risk",
    "high-intent",
] + [f"segment-{n:02d}" for n in range(1, 41)]
TAG_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(TAGS))]  # Zipf-like popularity
TAG_COUNTS = [0, 1, 2, 3, 4]
TAG_COUNT_WEIGHTS = [15, 20, 30, 20, 15]  # 2 tags per contact on average
SUBJECTS = [
    "Question about pricing",
    "Cannot log in",
    "Invoice request",
    "Feature request: export",
    "Bug report",
    "Onboarding call",
    "Cancel my subscription",
    "Data import help",
]
LINES = [
    "Hi, could you help me with this?",
    "Happy to help! Could you share a screenshot?",
    "Thanks, that worked.",
    "I've passed this on to the product team.",
    "Is there an API for this?",
]

_DAYS: dict[int, str] = {}


def stamp(ts: int) -> str:
    day, second = divmod(ts, DAY)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
    return f"{prefix}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def records(count: int, seed: int = DEFAULT_SEED):
    """Yield `count` contact records (dicts in the NDJSON import form), deterministically."""
    rng = random.Random(seed)
    rand, choice, choices = rng.random, rng.choice, rng.choices
    cum_tags = []
    total = 0.0
    for weight in TAG_WEIGHTS:
        total += weight
        cum_tags.append(total)
    for i in range(count):
        first, last = choice(FIRST), choice(LAST)
        created = REFERENCE_TS - HISTORY + int(rand() * (HISTORY - DAY))
        roll = rand()
        if roll < 0.10:
            last_seen = None
        elif roll < 0.50:
            last_seen = max(created, REFERENCE_TS - int(rand() * 30 * DAY))
        else:
            last_seen = created + int(rand() * (REFERENCE_TS - created))
        record = {
            "email": f"{first}.{last}{i}@{choice(DOMAINS)}",
            "name": f"{first.title()} {last.title()}",
            "created_at": stamp(created),
            "plan": choice(PLANS),
            "country": choice(COUNTRIES),
            "score": int(rand() * 100),
        }
        if rand() < 0.7:
            record["phone"] = f"+49 15{int(rand() * 10)} {int(rand() * 10**7):07d}"
        if rand() < 0.6:
            record["user_id"] = str(100000 + i)
        if last_seen is not None:
            record["last_seen_at"] = stamp(last_seen)
        if rand() < 0.01:
            record["blocked"] = True
        wanted = choices(TAG_COUNTS, TAG_COUNT_WEIGHTS)[0]
        if wanted:
            tags: list[str] = []
            while len(tags) < wanted:
                tag = choices(TAGS, cum_weights=cum_tags)[0]
                if tag not in tags:
                    tags.append(tag)
            record["tags"] = tags
        if rand() < 0.10:
            at = created + int(rand() * max(DAY, REFERENCE_TS - created - 7 * DAY))
            messages = []
            for n in range(3):
                messages.append(
                    {"body": choice(LINES), "sender": "contact" if n % 2 == 0 else "agent", "sent_at": stamp(at)}
                )
                at += 600 + int(rand() * DAY)
            record["conversations"] = [{"subject": choice(SUBJECTS), "messages": messages}]
        yield record


def generate(path: Path | str, count: int = DEFAULT_CONTACTS, seed: int = DEFAULT_SEED) -> Path:
    """Write `count` contacts to `path` as NDJSON and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(partial, "w", encoding="utf-8", newline="\n") as out:
        batch = []
        for record in records(count, seed):
            batch.append(dumps(record))
            if len(batch) >= 10_000:
                out.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            out.write("\n".join(batch) + "\n")
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=DEFAULT_CONTACTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default=None, help="output file (default benchmarks/out/contacts-N-SEED.ndjson)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "out" / f"contacts-{args.contacts}-{args.seed}.ndjson"
    path = generate(out, args.contacts, args.seed)
    print(f"wrote {args.contacts} contacts to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
