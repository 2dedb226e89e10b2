#!/usr/bin/env python3
"""Write a seeded, deterministic sample CRM dataset as contacts.csv and contacts.ndjson.

    python sample_data/generate.py [--count N] [--seed S] [--out DIR]

Both files hold the same contacts; only the NDJSON has conversations (CSV cannot express
them). Every date is drawn relative to a fixed reference day, never the real clock, so the
output is byte-identical from run to run. Rows are written as they are made, so
`--count 1000000` runs in constant memory. Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_COUNT = 1200
DEFAULT_SEED = 20261101
REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)
REFERENCE_TS = int(REFERENCE.timestamp())
DAY = 86400
HISTORY = 3 * 365 * DAY  # contacts were created over the three years before REFERENCE

CSV_COLUMNS = [
    "email",
    "name",
    "phone",
    "user_id",
    "created_at",
    "last_seen_at",
    "blocked",
    "tags",
    "plan",
    "country",
    "company",
    "score",
    "lifetime_value",
]

FIRST_NAMES = [
    "Anna",
    "Lukas",
    "Marie",
    "Jonas",
    "Sophie",
    "Felix",
    "Emma",
    "Paul",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Olivia",
    "James",
    "Amelia",
    "Oliver",
    "Isla",
    "Harry",
    "Liam",
    "Noah",
    "Ava",
    "Mia",
    "Ethan",
    "Zoë",
    "José",
    "Lucía",
    "Mateo",
    "Sofía",
    "Giulia",
    "Marco",
    "Sven",
    "Astrid",
    "Piotr",
    "Zofia",
    "Aarav",
    "Priya",
    "Yuki",
    "Haruto",
    "Chen",
    "Wei",
    "Fatima",
    "Omar",
    "Björn",
    "Małgorzata",
    "Siobhán",
    "Conor",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Martin",
    "Bernard",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Rossi",
    "Bianchi",
    "García",
    "Fernández",
    "López",
    "Andersson",
    "Nilsson",
    "Kowalski",
    "Nowak",
    "Sharma",
    "Patel",
    "Tanaka",
    "Sato",
    "Wang",
    "Li",
    "Haddad",
    "O'Brien",
    "Murphy",
    "van der Berg",
    "de Vries",
    "Jansen",
]
FREE_MAIL = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "proton.me",
    "hotmail.co.uk",
    "t-online.de",
    "free.fr",
    "mail.com",
]
THROWAWAY = ["mailinator.com", "guerrillamail.com", "yopmail.com", "tempmail.dev", "10minutemail.net", "trashmail.io"]
SPAM_NAMES = [
    "WIN FREE $$$",
    "Cheap Meds Online",
    "CLICK HERE NOW!!!",
    "Crypto Profit 5000%",
    "Free iPhone Winner",
    "Hot Singles Near You",
    "$$$ Make Money Fast $$$",
    "SEO Services Cheap",
]
SPAM_WORDS = ["winner", "freecash", "promo", "bonus", "deals", "crypto", "clickme", "offer"]
COMPANIES = [
    ("Acme, Inc.", "acme.com"),
    ("Globex Corporation", "globex.com"),
    ("Initech", "initech.io"),
    ("Umbrella Corp", "umbrella.co"),
    ("Stark Industries", "stark.example"),
    ("Müller & Söhne GmbH", "mueller-soehne.de"),
    ("Café Lumière SARL", "cafe-lumiere.fr"),
    ("Northwind Traders", "northwind.co.uk"),
    ("Contoso Ltd", "contoso.com"),
    ("Fabrikam", "fabrikam.net"),
    ("Wayne Enterprises", "wayne.example"),
    ("Hooli", "hooli.xyz"),
    ("Pied Piper", "piedpiper.com"),
    ("Vandelay Industries", "vandelay.us"),
    ("Soylent", "soylent.example"),
    ("Tyrell Corporation", "tyrell.example"),
    ("Nordlicht AB", "nordlicht.se"),
    ("Zielona Sp. z o.o.", "zielona.pl"),
    ("Sakura KK", "sakura.jp"),
    ("3M Partners", "threem-partners.com"),
]
COUNTRIES = [
    ("DE", 22),
    ("US", 24),
    ("FR", 12),
    ("GB", 12),
    ("NL", 5),
    ("ES", 5),
    ("IT", 4),
    ("SE", 3),
    ("PL", 3),
    ("CA", 3),
    ("AU", 2),
    ("JP", 2),
    ("IN", 2),
    ("BR", 1),
]
PLANS = [("free", 40), ("trial", 15), ("pro", 25), ("paid", 12), ("enterprise", 8)]
SUBJECTS = [
    "Question about pricing",
    "Cannot log in",
    "Invoice request",
    "Feature request: export",
    "Upgrade to enterprise",
    "Bug report",
    "Onboarding call",
    "Cancel my subscription",
    "Password reset",
    "Integration with Slack",
    "Data import help",
    "Refund request",
]
CONTACT_LINES = [
    "Hi, could you help me with this?",
    "Thanks, that worked.",
    "Still not working for me.",
    "Can we schedule a call next week?",
    "Please send the invoice as PDF.",
    "We would like to add 10 more seats.",
    "Is there an API for this?",
]
AGENT_LINES = [
    "Happy to help! Could you share a screenshot?",
    "I've reset it, please try again.",
    "Your invoice is attached.",
    "I've passed this on to the product team.",
    "Thanks for your patience, this is fixed now.",
    "Sure, here's a booking link.",
]
PHONE_FORMATS = {
    "DE": ("+49 15{0} {1:07d}", "015{0} {1:07d}", "030 {1:07d}"),
    "US": ("+1 {0}{0}5-555-{2:04d}", "({0}15) 555-{2:04d}"),
    "FR": ("+33 6 {3:02d} {4:02d} {5:02d} {6:02d}", "06 {3:02d} {4:02d} {5:02d} {6:02d}"),
    "GB": ("+44 7700 {2:06d}", "07700 {2:06d}"),
}
CALLING_CODES = {
    "NL": "31",
    "ES": "34",
    "IT": "39",
    "SE": "46",
    "PL": "48",
    "CA": "1",
    "AU": "61",
    "JP": "81",
    "IN": "91",
    "BR": "55",
}


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalpha())


FIRST_ASCII = {name: _ascii(name) for name in FIRST_NAMES}
LAST_ASCII = {name: _ascii(name) for name in LAST_NAMES}


_DAYS: dict[int, str] = {}


def _stamp(ts: int) -> str:
    """The stored time format, without strftime's cost (days are cached)."""
    day, second = divmod(ts, DAY)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
    return f"{prefix}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _weighted(pairs):
    values = [value for value, _ in pairs]
    cumulative, total = [], 0
    for _, weight in pairs:
        total += weight
        cumulative.append(total)
    return values, cumulative


class _Maker:
    """Makes contact number i; all randomness comes from one seeded Random."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.countries = _weighted(COUNTRIES)
        self.plans = _weighted(PLANS)

    def below(self, n: int) -> int:
        """A random int in [0, n): random.randrange's job, faster."""
        return int(self.rng.random() * n)

    def pick(self, weighted):
        values, cumulative = weighted
        return self.rng.choices(values, cum_weights=cumulative)[0]

    def contact(self, i: int) -> tuple[dict, int]:
        """(the record, its creation time as a timestamp)"""
        rng = self.rng
        spam = rng.random() < 0.04
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = REFERENCE_TS - HISTORY + self.below(HISTORY - DAY)
        plan = rng.choice(("trial", "free")) if spam else self.pick(self.plans)
        country = self.pick(self.countries)
        company = None if spam or (plan != "enterprise" and rng.random() < 0.45) else rng.choice(COMPANIES)
        last_seen = self.last_seen(created)
        record = {
            "email": self.email(i, first, last, company, spam),
            "name": rng.choice(SPAM_NAMES) if spam else f"{first} {last}",
            "phone": None if spam or rng.random() < 0.15 else self.phone(country),
            "user_id": str(100000 + i) if rng.random() < 0.7 else None,
            "created_at": _stamp(created),
            "last_seen_at": _stamp(last_seen) if last_seen else None,
            "blocked": self.blocked(created, spam),
            "tags": self.tags(plan, spam, last_seen),
            "plan": plan,
            "country": country,
            "company": company[0] if company else None,
            "score": rng.randint(0, 15) if spam else rng.randint(0, 100),
            "lifetime_value": self.lifetime_value(plan),
        }
        return record, created

    def email(self, i: int, first: str, last: str, company, spam: bool) -> str:
        # Names hold no digits, so the trailing number makes every address unique, ignoring case.
        rng, number = self.rng, i * 7 + 11
        if spam:
            return f"{rng.choice(SPAM_WORDS)}{number}@{rng.choice(THROWAWAY)}"
        f, s = FIRST_ASCII[first], LAST_ASCII[last]
        local = rng.choice((f"{f}.{s}{number}", f"{f[0]}{s}{number}", f"{f}_{s}{number}", f"{s}.{f}{number}"))
        domain = company[1] if company and rng.random() < 0.8 else rng.choice(FREE_MAIL)
        if rng.random() < 0.08:  # some people type their address with capitals
            local, domain = local.title(), domain.capitalize()
        return f"{local}@{domain}"

    def phone(self, country: str) -> str:
        rng = self.rng
        code = CALLING_CODES.get(country, "1")
        pattern = rng.choice(PHONE_FORMATS.get(country) or (f"+{code} {{0}}{{1:07d}}", f"00{code} {{0}}{{1:07d}}"))
        return pattern.format(
            rng.randint(1, 9), self.below(10**7), self.below(10**4), *(self.below(100) for _ in range(4))
        )

    def last_seen(self, created: int) -> int | None:
        roll = self.rng.random()
        if roll < 0.10:
            return None
        if roll < 0.45:  # active in the last month
            return max(created, REFERENCE_TS - self.below(30 * DAY))
        two_years_ago = REFERENCE_TS - 2 * 365 * DAY
        if roll < 0.65 and created < two_years_ago:  # gone quiet for more than two years
            return created + self.below(two_years_ago - created)
        return created + self.below(REFERENCE_TS - created)

    def blocked(self, created: int, spam: bool) -> str | None:
        if self.rng.random() < (0.5 if spam else 0.02):
            return _stamp(created + self.below(REFERENCE_TS - created))
        return None

    def tags(self, plan: str, spam: bool, last_seen: int | None) -> list[str]:
        rng, tags = self.rng, []
        if spam:
            tags.append("spam-suspect")
        if plan == "enterprise" and rng.random() < 0.6:
            tags.append("vip")
        if plan == "trial" and not spam:
            tags.append("trial-active")
        if last_seen is not None and last_seen < REFERENCE_TS - 365 * DAY and rng.random() < 0.7:
            tags.append("churned")
        for name, chance in (("newsletter", 0.4), ("beta", 0.08), ("partner", 0.03), ("webinar-2026", 0.1)):
            if not spam and rng.random() < chance:
                tags.append(name)
        return tags

    def lifetime_value(self, plan: str) -> float:
        ranges = {"free": (0, 0), "trial": (0, 0), "paid": (10, 500), "pro": (50, 3000), "enterprise": (5000, 250000)}
        low, high = ranges[plan]
        return round(self.rng.uniform(low, high), 2) if high else 0.0

    def conversations(self, created: int) -> list[dict]:
        rng = self.rng
        if rng.random() < 0.5:
            return []
        found = []
        for _ in range(rng.randint(1, 2)):
            at = created + self.below(max(DAY, REFERENCE_TS - created - 7 * DAY))
            messages = []
            for n in range(rng.randint(1, 4)):
                sender = "contact" if n % 2 == 0 else "agent"
                body = rng.choice(CONTACT_LINES if sender == "contact" else AGENT_LINES)
                messages.append({"body": body, "sender": sender, "sent_at": _stamp(at)})
                at += 600 + self.below(2 * DAY)
            found.append({"subject": rng.choice(SUBJECTS), "messages": messages})
        return found


def _csv_row(record: dict) -> list:
    row = []
    for column in CSV_COLUMNS:
        value = record[column]
        if value is None:
            row.append("")
        elif column == "tags":
            row.append(";".join(value))
        elif column == "lifetime_value":
            row.append(f"{value:.2f}")
        else:
            row.append(value)
    return row


def _json_record(record: dict, conversations: list[dict]) -> dict:
    shown = {key: value for key, value in record.items() if value is not None and value != []}
    if conversations:
        shown["conversations"] = conversations
    return shown


def generate(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, out_dir: Path | str = ".") -> tuple[Path, Path]:
    """Write contacts.csv and contacts.ndjson into out_dir; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, ndjson_path = out / "contacts.csv", out / "contacts.ndjson"
    maker = _Maker(seed)
    with (
        open(csv_path, "w", encoding="utf-8", newline="") as csv_file,
        open(ndjson_path, "w", encoding="utf-8", newline="\n") as ndjson_file,
    ):
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for i in range(count):
            record, created = maker.contact(i)
            conversations = maker.conversations(created)
            writer.writerow(_csv_row(record))
            ndjson_file.write(json.dumps(_json_record(record, conversations), ensure_ascii=False) + "\n")
    return csv_path, ndjson_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"contacts to write (default {DEFAULT_COUNT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="output directory")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must not be negative")
    csv_path, ndjson_path = generate(args.count, args.seed, args.out)
    print(f"wrote {args.count} contacts to {csv_path} and {ndjson_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
