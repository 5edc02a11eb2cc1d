"""The wallboard in a real browser (Debian's chromium and chromium-driver): the page
takes the live snapshot over Server-Sent Events and updates without a reload.

The app is served on loopback with a running engine; Asterisk is replaced by the
recording stand-ins (the call flow against real Asterisk is tested in tests/e2e).
Set CCQUEUE_WALLBOARD_SCREENSHOT to a path to keep the screenshot there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

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


async def test_the_wallboard_updates_live_in_a_browser(tmp_path: Path) -> None:
    async for b in _board():
        await _busy_monday(b)
        assert b.client.server.host == "127.0.0.1"  # aiohttp's test server listens on loopback
        driver = await asyncio.to_thread(_driver)
        try:
            await asyncio.to_thread(driver.get, str(b.client.make_url("/wallboard")))
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
    async for b in _board():
        await _busy_monday(b)
        driver = await asyncio.to_thread(_driver)
        try:
            # A browser (or a proxy) without EventSource: the page falls back to polling.
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
            await asyncio.to_thread(driver.get, str(b.client.make_url("/wallboard")))
            await _wait_for(driver, "return document.getElementById('status').textContent.includes('polling');")
            assert "<scri\u2022\u2022\u2022ipt>" in driver.find_element(By.ID, "callers").text
        finally:
            await asyncio.to_thread(driver.quit)
