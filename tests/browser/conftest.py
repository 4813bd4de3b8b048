"""A live server on the test database and Debian's Chromium driven by Playwright."""
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ARTIFACTS, DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, live_server, clean_db, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.base = live_server
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = {"n": 0}

    def shot(name: str):
        ARTIFACTS.mkdir(exist_ok=True)
        shots["n"] += 1
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{shots['n']:02d}-{name}.png"), full_page=True)

    def login(username: str):
        pg.goto(f"{live_server}/login")
        shot("login")
        pg.fill("#username", username)
        pg.fill("#password", DEMO_PASSWORD)
        pg.click("button.primary")

    pg.shot = shot
    pg.login = login
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture()
def second(browser, live_server):
    """Another person's browser."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()

    def login(username: str):
        pg.goto(f"{live_server}/login")
        pg.fill("#username", username)
        pg.fill("#password", DEMO_PASSWORD)
        pg.click("button.primary")
    pg.login = login
    yield pg
    context.close()
