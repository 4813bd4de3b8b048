"""The RQ worker process: opens the database and plugins once, then serves the queues."""
from __future__ import annotations

import logging

from rq import Worker
from rq.serializers import JSONSerializer

from formwarden import db
from formwarden.audit import highwater
from formwarden.config import Settings
from formwarden.jobs import health
from formwarden.jobs.queue import QUEUES, connection, lazy_connection
from formwarden.plugins import load_plugins


class FormwardenWorker(Worker):
    """An RQ worker that also watches the scheduler at its maintenance step (every 2 minutes)."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            health.watch_scheduler(self.connection)
        except Exception:  # noqa: BLE001 - the worker keeps working whatever this finds
            logging.getLogger(__name__).exception("could not check the scheduler's heartbeat")


def run_worker(settings: Settings, queues=QUEUES, burst: bool = False, name: str | None = None) -> bool:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    db.open_database(settings.database_url)
    load_plugins(settings.plugin_dirs, settings.plugins_allowed)
    highwater.configure(lazy_connection(settings))
    conn = connection(settings)
    worker = FormwardenWorker(list(queues), connection=conn, serializer=JSONSerializer, name=name,
                              maintenance_interval=120)
    if not burst:
        health.note_worker(conn)
    return worker.work(burst=burst, with_scheduler=not burst)
