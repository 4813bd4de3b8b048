"""RQ entry point for the hourly prune of uploads that no record took (jobs/cron.py)."""
from __future__ import annotations

import logging

from formwarden.records.attachments import prune_unbound

log = logging.getLogger(__name__)


def prune_uploads() -> int:
    gone = prune_unbound()
    if gone:
        log.info("pruned %s uploads no record took within a day", gone)
    return gone
