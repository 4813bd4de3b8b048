"""Which archives a target may drop: keep the newest few archives whatever their age, and the
newest archive of each of the last N days, M ISO weeks and K months that have one
(grandfather-father-son). The newest archive of all is always kept."""
from __future__ import annotations

import datetime as dt


def to_prune(copies: list[tuple[str, dt.datetime]], policy, now: dt.datetime) -> list[str]:
    """`copies`: (name, created) of one target's verified archives. Returns the names to delete."""
    ordered = sorted(copies, key=lambda c: c[1], reverse=True)
    keep = {name for name, _ in ordered[:max(1, getattr(policy, "keep_last", 1))]}
    buckets = (
        (policy.keep_daily, lambda t: t.date()),
        (policy.keep_weekly, lambda t: tuple(t.isocalendar())[:2]),
        (policy.keep_monthly, lambda t: (t.year, t.month)),
    )
    for count, bucket_of in buckets:
        seen: list = []
        for name, created in ordered:
            bucket = bucket_of(created)
            if bucket in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(bucket)
            keep.add(name)
    return [name for name, created in ordered if name not in keep and created <= now]
