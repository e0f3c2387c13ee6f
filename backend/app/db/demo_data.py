"""The demo catalogue: brands, users and projects for workflows to belong to.

Fixed ids, so several workers seeding at once collide harmlessly. Sign-up and project
dates are spread over the past weeks so the business dashboards have history.
"""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .models import Brand, Project, User, utcnow

BRANDS = ("Northwind", "Acme Rockets", "Globex", "Initech", "Umbrella Foods", "Stark Apparel")
USERS = 24
PROJECTS = 30


def seed_catalogue(sessions, rng: random.Random | None = None) -> None:
    rng = rng or random.Random(42)  # the same catalogue on every start
    now = utcnow()
    try:
        with sessions.begin() as s:
            if s.scalar(select(func.count()).select_from(Brand)):
                return
            s.add_all(Brand(id=i, name=name) for i, name in enumerate(BRANDS, 1))
            s.add_all(User(id=i, email=f"user{i:02d}@example.com",
                           created_at=now - timedelta(days=rng.uniform(0, 90))) for i in range(1, USERS + 1))
            s.flush()  # projects reference both (no ORM relationship orders the inserts for us)
            s.add_all(Project(id=i, brand_id=rng.randint(1, len(BRANDS)), user_id=rng.randint(1, USERS),
                              name=f"campaign {i:02d}", created_at=now - timedelta(days=rng.uniform(0, 30)))
                      for i in range(1, PROJECTS + 1))
    except IntegrityError:
        pass  # another worker seeded it first
