"""The wallboard in a real browser (Debian's chromium and chromium-driver): a supervisor
signs in through the sign-in page, then the page takes the live snapshot over
Server-Sent Events and updates without a reload.

The app is served on loopback with a running engine; Asterisk is replaced by the
recording stand-ins (the call flow against real Asterisk is tested in tests/e2e).
Set CCQUEUE_WALLBOARD_SCREENSHOT to a path to keep the screenshot there, and
CCQUEUE_SIGNIN_SCREENSHOTS to a folder to keep the sign-in page's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from ccqueue.http.auth import COOKIE
from tests.support.auth import SUPERVISOR_PASSWORD
from tests.unit.http.test_wallboard import _board, _busy_monday, arrival

webdriver = pytest.importorskip("selenium.webdriver")
By = pytest.importorskip("selenium.webdriver.common.by").By
Service = pytest.importorskip("selenium.webdriver.chrome.service").Service


def _driver() -> Any:
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.fail("chromium and chromium-driver (Debian packages) are needed")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


async def _wait_for(driver: Any, script: str, *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(driver.execute_script, script)
        if value:
            return value
        assert time.monotonic() < deadline, f"the page never got there: {script}"
        await asyncio.sleep(0.1)


async def _sign_in(driver: Any, base: str, *, password: str = SUPERVISOR_PASSWORD, lands: bool = True) -> None:
    """Open the wallboard; a stranger is sent to the sign-in page, which signs in and returns."""
    await asyncio.to_thread(driver.get, base + "/wallboard")
    await _wait_for(driver, "return location.pathname === '/signin' && document.getElementById('user');")
    assert driver.execute_script("return location.search;") == "?next=/wallboard"
    driver.find_element(By.ID, "user").send_keys("sam")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    if lands:
        await _wait_for(driver, "return location.pathname === '/wallboard' && document.getElementById('status');")


async def test_the_wallboard_updates_live_in_a_browser(tmp_path: Path) -> None:
    async for b in _board(headers={}):
        await _busy_monday(b)
        assert b.client.server.host == "127.0.0.1"  # aiohttp's test server listens on loopback
        driver = await asyncio.to_thread(_driver)
        try:
            await _sign_in(driver, str(b.client.make_url("")).rstrip("/"))
            status = await _wait_for(
                driver, "const s = document.getElementById('status').textContent; return s.includes('live') && s;"
            )
            assert "Asterisk: ready" in status
            # The snapshot rendered: SL in red, the callers, the agents on their calls.
            sl = driver.find_element(By.CSS_SELECTOR, "#queues .sl")
            assert (sl.text, "red" in sl.get_attribute("class")) == ("33%", True)
            callers = driver.find_element(By.ID, "callers").text
            assert "<scri\u2022\u2022\u2022ipt>" in callers  # shown as text ...
            assert not driver.execute_script("return document.querySelectorAll('main script, main img').length")  # ... never run
            assert "+1555\u2022\u2022\u20220100 \u00b7 support" in driver.find_element(By.ID, "agents").text
            marker = driver.execute_script("window.notReloaded = 1; return window.notReloaded;")
            # An event: one more caller waits. The page shows it without a reload.
            await b.engine.ask(arrival(5, "+15550100500"))
            await _wait_for(
                driver, "return document.getElementById('callers').textContent.includes('+1555\u2022\u2022\u20220500');"
            )
            assert driver.execute_script("return window.notReloaded;") == marker
            assert driver.find_element(By.CSS_SELECTOR, "#queues td.num.big").text == "2"  # waiting
            shot = tmp_path / "wallboard.png"
            assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
            if keep := os.environ.get("CCQUEUE_WALLBOARD_SCREENSHOT"):
                shutil.copyfile(shot, keep)
        finally:
            await asyncio.to_thread(driver.quit)


async def test_without_server_sent_events_the_page_polls() -> None:
    async for b in _board(headers={}):
        await _busy_monday(b)
        driver = await asyncio.to_thread(_driver)
        try:
            # A browser (or a proxy) without EventSource: the page falls back to polling.
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
            await _sign_in(driver, str(b.client.make_url("")).rstrip("/"))
            await _wait_for(driver, "return document.getElementById('status').textContent.includes('polling');")
            assert "<scri\u2022\u2022\u2022ipt>" in driver.find_element(By.ID, "callers").text
        finally:
            await asyncio.to_thread(driver.quit)


async def test_a_supervisor_signs_in_and_out_through_the_page(tmp_path: Path) -> None:
    async for b in _board(headers={}):
        await _busy_monday(b)
        base = str(b.client.make_url("")).rstrip("/")
        driver = await asyncio.to_thread(_driver)
        try:
            # A wrong password: the page says so and stays; no cookie is set.
            await _sign_in(driver, base, password="not-the-password", lands=False)
            await _wait_for(driver, "return document.getElementById('error').textContent;")
            assert driver.find_element(By.ID, "error").text == "Wrong user name or password."
            assert driver.get_cookie(COOKIE) is None
            refused = tmp_path / "signin-refused.png"
            assert driver.save_screenshot(str(refused))
            # The right one: back to the wallboard, signed in as sam.
            driver.find_element(By.ID, "password").clear()
            driver.find_element(By.ID, "password").send_keys(SUPERVISOR_PASSWORD)
            driver.find_element(By.ID, "submit").click()
            await _wait_for(driver, "return location.pathname === '/wallboard' && document.getElementById('who').textContent;")
            assert driver.find_element(By.ID, "who").text == "sam (supervisor)"
            await _wait_for(driver, "return document.getElementById('status').textContent.includes('live');")
            # The cookie is the browser's, never the page's scripts'.
            cookie = driver.get_cookie(COOKIE)
            assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
            assert COOKIE not in driver.execute_script("return document.cookie;")
            signed_in = tmp_path / "signed-in.png"
            assert driver.save_screenshot(str(signed_in)) and signed_in.stat().st_size > 10_000
            # Signing out ends the session: the wallboard sends the browser back to sign in.
            driver.find_element(By.ID, "signout").click()
            await _wait_for(driver, "return location.pathname === '/signin';")
            await asyncio.to_thread(driver.get, base + "/wallboard")
            await _wait_for(driver, "return location.pathname === '/signin';")
            # Signing in with no page asked for lands on the role's own screen.
            await asyncio.to_thread(driver.get, base + "/signin")
            await _wait_for(driver, "return document.getElementById('user');")
            driver.find_element(By.ID, "user").send_keys("sam")
            driver.find_element(By.ID, "password").send_keys(SUPERVISOR_PASSWORD)
            driver.find_element(By.ID, "submit").click()
            await _wait_for(driver, "return location.pathname === '/supervisor';")
            if keep := os.environ.get("CCQUEUE_SIGNIN_SCREENSHOTS"):
                for shot in (refused, signed_in):
                    shutil.copyfile(shot, Path(keep) / shot.name)
        finally:
            await asyncio.to_thread(driver.quit)


ATTACK_PAGE = """<!doctype html><html><body>
<form method="POST" action="{target}" enctype="text/plain">
  <input name='{{"reason": "' value='x"}}'>
</form>
<script>document.forms[0].submit();</script>
</body></html>"""


async def test_a_form_on_another_page_cannot_log_a_signed_in_agent_out(tmp_path: Path) -> None:
    """The attack as a browser makes it: a supervisor is signed in; a page elsewhere posts
    a text/plain form to the logout route. From another site (``localhost``) the browser
    does not send the SameSite=Strict cookie: 401. From the same site (127.0.0.1 on
    another port, where the cookie does go) the missing CSRF token refuses it: 403."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from ccqueue.core import events as ev

    async for b in _board(headers={}):
        await b.engine.ask(ev.AgentRequested(agent_id="agent1", action=ev.AgentAction.LOGIN))
        base = str(b.client.make_url("")).rstrip("/")

        page = ATTACK_PAGE.format(target=base + "/api/agents/agent1/logout")

        async def attack(_request: web.Request, page: str = page) -> web.Response:
            return web.Response(text=page, content_type="text/html")

        evil = web.Application()
        evil.router.add_get("/", attack)
        async with TestServer(evil, host="127.0.0.1") as server:
            driver = await asyncio.to_thread(_driver)
            try:
                await _sign_in(driver, base)
                for origin, answer in (
                    (f"http://localhost:{server.port}/", "not-signed-in"),
                    (f"http://127.0.0.1:{server.port}/", "csrf-refused"),
                ):
                    await asyncio.to_thread(driver.get, origin)
                    await _wait_for(driver, f"return document.body && document.body.textContent.includes('{answer}');")
                    view = b.engine.acd.views.agent("agent1")
                    assert view is not None and (view.state.value, view.pending_action) == ("available", None), origin
                shot = tmp_path / "csrf-refused.png"
                assert driver.save_screenshot(str(shot))
                if keep := os.environ.get("CCQUEUE_SIGNIN_SCREENSHOTS"):
                    shutil.copyfile(shot, Path(keep) / shot.name)
            finally:
                await asyncio.to_thread(driver.quit)
