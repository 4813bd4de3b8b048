"""`formwarden serve`: gunicorn (several processes) plus, when REDIS_URL is unset, the embedded
Redis, an RQ worker and the cron scheduler beside it. Supervises the children and stops them together."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from formwarden.config import Settings
from formwarden.jobs.queue import start_embedded


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def gunicorn_command(host: str, port: int, workers: int, threads: int, access_log: bool = False) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        *(["--access-logfile", "-"] if access_log else []),
        "--graceful-timeout", "10",
        "--no-control-socket",  # one per host would collide between instances
        "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "formwarden.app:create_app()",
    ]


def serve(settings: Settings, host: str, port: int, workers: int, threads: int, with_worker: bool, banner,
          access_log: bool = False) -> int:
    env = dict(os.environ)
    env["FORMWARDEN_INSTANCE"] = str(settings.instance)
    if not settings.redis_url:
        env["REDIS_URL"] = start_embedded(settings.instance)
        with_worker = True
    children: list[subprocess.Popen] = []
    if with_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "formwarden.cli", "worker"], env=env))
        # Periodic work (alert scan, checkpoints, scheduled backups and drills); a second
        # scheduler elsewhere only stands by.
        children.append(subprocess.Popen([sys.executable, "-m", "formwarden.cli", "cron"], env=env))
    web = subprocess.Popen(gunicorn_command(host, port, workers, threads, access_log), env=env)
    children.append(web)

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        # The last events of this run get a signed checkpoint: a tail cut off while the
        # server is down is reported by the next check.
        subprocess.run([sys.executable, "-m", "formwarden.cli", "audit", "checkpoint"], env=env, timeout=600,
                       check=False)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    if not _wait_for_port(host, port, web):
        stop()
        raise RuntimeError(f"the web server did not start on {host}:{port}")
    banner(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/")
    try:
        while True:
            for child in children:
                if child.poll() is not None:
                    stop()
                    return child.returncode or 1
            time.sleep(1)
    except KeyboardInterrupt:
        stop()
        return 0
