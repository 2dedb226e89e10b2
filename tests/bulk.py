"""Bulk synthetic contacts for process-level tests, inserted set-based in one statement each."""

from __future__ import annotations


def add_bulk_contacts(db, count: int) -> None:
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO contacts(email, name, created_at, last_seen_at) "
        "SELECT 'user' || i || '@bulk.example', 'User ' || i, '2025-01-01T00:00:00Z', "
        "CASE WHEN i % 3 = 0 THEN '2024-01-01T00:00:00Z' ELSE '2026-10-01T00:00:00Z' END FROM n",
        [count],
    )
    for name, kind in (("plan", "text"), ("score", "number"), ("stage", "text"), ("band", "text")):
        db.execute(
            "INSERT OR IGNORE INTO properties(name, folded, type, created_at) VALUES (?, ?, ?, '2025-01-01T00:00:00Z')",
            [name, name, kind],
        )
    as_value = "to_jsonb" if getattr(db, "dialect", "sqlite") == "postgresql" else ""  # PostgreSQL: jsonb values
    db.execute(
        "INSERT INTO property_values(contact_id, property_id, value) SELECT c.id, p.id, "
        f"{as_value}(CASE WHEN c.id % 2 = 0 THEN 'trial' ELSE 'pro' END) FROM contacts AS c, properties AS p "
        "WHERE p.name = 'plan'"
    )
    db.execute(
        "INSERT INTO property_values(contact_id, property_id, value) "
        f"SELECT c.id, p.id, {as_value}(c.id % 100) FROM contacts AS c, properties AS p WHERE p.name = 'score'"
    )
    for tag in ("vip", "churned", "winback", "at-risk"):
        db.execute("INSERT OR IGNORE INTO tags(name, created_at) VALUES (?, '2025-01-01T00:00:00Z')", [tag])
    db.conn.commit()
