"""A deterministic demo database: customers, orders and events (~100k rows) with realistic values, and the visits
of the last few days (one daily window each); `add_events` is the demo's second step, new rows for the
incremental export."""
from __future__ import annotations

import json
import random
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

COUNTRIES = ["DE", "FR", "US", "BR", "JP", "IN", "NG", "UA", "ES", "CA"]
STATUSES = ["new", "paid", "shipped", "delivered", "cancelled"]
EVENT_KINDS = ["page_view", "add_to_cart", "checkout", "login", "search"]
NAMES = ["Ana", "Jürgen", "Chloé", "Иван", "Zoë", "李雷", "Siobhán", "José", "Amaka", "Ngọc"]


PAGES = ["/", "/shop", "/cart", "/checkout", "/account", "/help"]
VISIT_DAYS = 3        # the closed days before `today`, each a window of the daily export


def seed(path: Path, customers: int = 20_000, orders: int = 50_000, events: int = 30_000, visits_per_day: int = 1_000,
         today: date | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rng = random.Random(42)
    epoch = datetime(2023, 1, 1)
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT, country TEXT,
                                    is_active INTEGER NOT NULL, signed_up_at TEXT NOT NULL, lifetime_value REAL);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
                                 amount REAL NOT NULL, currency TEXT NOT NULL, created_at TEXT NOT NULL,
                                 note TEXT, receipt BLOB);
            CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id INTEGER, kind TEXT NOT NULL, payload TEXT,
                                 occurred_at TEXT NOT NULL);
            CREATE TABLE visits (id INTEGER PRIMARY KEY, customer_id INTEGER, page TEXT NOT NULL,
                                 visited_at TEXT NOT NULL);
        """)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", (
            (i, f"user{i}@example.com", f"{rng.choice(NAMES)} {i}" if rng.random() > 0.02 else None,
             rng.choice(COUNTRIES), int(rng.random() > 0.1),
             (epoch + timedelta(seconds=rng.randrange(60 * 86400 * 10))).isoformat(sep=" "),
             round(rng.uniform(0, 5000), 2) if rng.random() > 0.05 else None)
            for i in range(1, customers + 1)))
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            (i, rng.randint(1, customers), rng.choice(STATUSES), round(rng.uniform(1, 999), 2), "EUR",
             (epoch + timedelta(seconds=rng.randrange(60 * 86400 * 10))).isoformat(sep=" "),
             "gift, wrap it" if rng.random() < 0.01 else ("" if rng.random() < 0.01 else None),
             rng.randbytes(8) if rng.random() < 0.5 else None)
            for i in range(1, orders + 1)))
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (
            (i, rng.randint(1, customers) if rng.random() > 0.03 else None, rng.choice(EVENT_KINDS),
             json.dumps({"path": f"/p/{rng.randint(1, 500)}", "ms": rng.randint(5, 900)}),
             (epoch + timedelta(seconds=rng.randrange(60 * 86400 * 10))).isoformat(sep=" "))
            for i in range(1, events + 1)))
        today = today or datetime.now(timezone.utc).date()
        first_day = datetime.combine(today - timedelta(days=VISIT_DAYS), datetime.min.time())
        db.executemany("INSERT INTO visits VALUES (?, ?, ?, ?)", (
            (i, rng.randint(1, customers), rng.choice(PAGES),
             (first_day + timedelta(days=(i - 1) // visits_per_day, seconds=rng.randrange(86400))).isoformat(sep=" "))
            for i in range(1, VISIT_DAYS * visits_per_day + 1)))
    return path


def add_events(path: Path, count: int = 1_000) -> None:
    """New rows past the incremental export's cursor."""
    rng = random.Random(7)
    with sqlite3.connect(path) as db:
        first = db.execute("SELECT max(id) FROM events").fetchone()[0] + 1
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (
            (i, rng.randint(1, 20_000), rng.choice(EVENT_KINDS), json.dumps({"path": "/new", "ms": 1}),
             datetime(2024, 8, 24).isoformat(sep=" ")) for i in range(first, first + count)))
