"""The supervisor's screen in a real browser (Debian's chromium and chromium-driver): a
supervisor signs in, sees its agents live, force-pauses one, and reads the page in
Russian, and cancels a callback; a name from outside is shown as text, never run.

The app is served on loopback with a running engine; Asterisk is replaced by the
recording stand-ins (listening in against real Asterisk is tests/e2e/test_spy.py).
Set CCQUEUE_SUPERVISOR_SCREENSHOTS to a folder to keep the screenshots there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from types import MappingProxyType

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config.callbacks import Callbacks
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from tests.integration.test_wallboard_browser import _driver, _wait_for
from tests.support.auth import SUPERVISOR, SUPERVISOR_PASSWORD, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records
from tests.unit.http.test_wallboard import SCRIPT_CALLER, _board, arrival, until

By = pytest.importorskip("selenium.webdriver.common.by").By


async def test_a_supervisor_sees_its_agents_and_force_pauses_one(tmp_path: Path) -> None:
    async for b in _board(headers={}):
        e = b.engine
        for agent in ("agent1", "agent2"):
            await e.ask(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN))
        # One agent takes a call from a "number" that is markup: the page shows it as text.
        await e.ask(arrival(1, SCRIPT_CALLER))
        originated = b.telephony.originated
        await until(lambda o=originated: len(o) == 1)
        await e.ask(ev.OfferClaimed(offer_id=originated[0].offer_id))
        on_call = originated[0].agent_id
        idle = "agent2" if on_call == "agent1" else "agent1"
        base = str(b.client.make_url("")).rstrip("/")
        driver = await asyncio.to_thread(_driver)
        try:
            await asyncio.to_thread(driver.get, base + "/supervisor?lang=en")
            await _wait_for(driver, "return location.pathname === '/signin' && document.getElementById('user');")
            driver.find_element(By.ID, "user").send_keys("sam")
            driver.find_element(By.ID, "password").send_keys(SUPERVISOR_PASSWORD)
            driver.find_element(By.ID, "submit").click()
            await _wait_for(driver, "return location.pathname === '/supervisor' && document.getElementById('who').textContent;")
            await _wait_for(driver, "return document.querySelectorAll('#agents tr.agent').length === 2;")
            assert driver.find_element(By.ID, "who").text == "sam (supervisor)"
            rows = {r.get_attribute("data-agent"): r for r in driver.find_elements(By.CSS_SELECTOR, "#agents tr.agent")}
            assert "on call" in rows[on_call].text and "<scri\u2022\u2022\u2022ipt> \u00b7 support" in rows[on_call].text
            assert "available" in rows[idle].text
            assert not driver.execute_script("return document.querySelectorAll('main script, main img').length")
            # Listening in is offered only on a call.
            spy_enabled = driver.execute_script(
                "return [...document.querySelectorAll('#agents tr.agent')].map(r => [r.dataset.agent,"
                " !r.querySelector('button.listen').disabled]);"
            )
            assert dict(spy_enabled) == {on_call: True, idle: False}
            before = tmp_path / "supervisor.png"
            assert driver.save_screenshot(str(before)) and before.stat().st_size > 10_000
            # Force-pause the idle agent, with a reason typed in.
            driver.find_element(By.ID, "reason").clear()
            driver.find_element(By.ID, "reason").send_keys("coaching")
            driver.execute_script(f"document.querySelector('#agents tr[data-agent=\"{idle}\"] button.pause').click();")
            await _wait_for(driver, "return document.getElementById('message').className === 'ok';")
            view = e.acd.views.agent(idle)
            assert view is not None and (view.state.value, view.reason) == ("paused", "coaching")
            await _wait_for(
                driver,
                f"return document.querySelector('#agents tr[data-agent=\"{idle}\"]').textContent.includes('paused (coaching)');",
            )
            # The agent's detail, then the page in Russian.
            driver.execute_script(f"document.querySelector('#agents tr[data-agent=\"{idle}\"]').click();")
            await _wait_for(driver, "return document.getElementById('detail').textContent.includes('coaching');")
            paused = tmp_path / "supervisor-paused.png"
            assert driver.save_screenshot(str(paused))
            driver.find_element(By.ID, "lang").click()
            await _wait_for(driver, "return document.documentElement.lang === 'ru';")
            assert driver.find_element(By.ID, "h-agents").text.upper() == "ОПЕРАТОРЫ"
            assert "пауза (coaching)" in driver.find_element(By.CSS_SELECTOR, f'#agents tr[data-agent="{idle}"]').text
            russian = tmp_path / "supervisor-ru.png"
            assert driver.save_screenshot(str(russian))
            # And back to work.
            driver.execute_script(f"document.querySelector('#agents tr[data-agent=\"{idle}\"] button.unpause').click();")
            await _wait_for(driver, "return document.getElementById('message').textContent.startsWith('Снятие паузы');")
            again = e.acd.views.agent(idle)
            assert again is not None and again.state.value == "available"
            if keep := os.environ.get("CCQUEUE_SUPERVISOR_SCREENSHOTS"):
                for shot in (before, paused, russian):
                    shutil.copyfile(shot, Path(keep) / shot.name)
        finally:
            await asyncio.to_thread(driver.quit)


async def test_a_supervisor_cancels_a_callback_from_the_screen(tmp_path: Path) -> None:
    policy = CallbackPolicy(dial="PJSIP/{digits}@trunk", allowed=(r"\+1\d{10}",), caller_id="+15550100")
    settings = AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support")}),
        agents=MappingProxyType(
            {"agent1": AgentSettings(agent_id="agent1", name="Alice", endpoint="PJSIP/agent1", queues=("support",))}
        ),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        callbacks=policy,
    )
    engine = Engine(Acd(settings), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())
    app = build_app(
        engine=engine,
        registry=CollectorRegistry(),
        health=lambda: {"status": "ok", "ami": "ready", "database": "ready"},
        callbacks_config=lambda: Callbacks(dial=policy.dial, caller_id=policy.caller_id, region="US", allowed=policy.allowed),
        users=lambda: USERS,
    )
    task = asyncio.create_task(engine.run())
    try:
        async with TestClient(TestServer(app), headers=SUPERVISOR) as client:
            r = await client.post("/api/callbacks", json={"number": "+16502530000", "queue": "support"})
            assert r.status == 201, await r.text()
            callback_id = (await r.json())["id"]
            base = str(client.make_url("")).rstrip("/")
            driver = await asyncio.to_thread(_driver)
            try:
                await asyncio.to_thread(driver.get, base + "/supervisor")
                await _wait_for(driver, "return document.getElementById('user');")
                driver.find_element(By.ID, "user").send_keys("sam")
                driver.find_element(By.ID, "password").send_keys(SUPERVISOR_PASSWORD)
                driver.find_element(By.ID, "submit").click()
                await _wait_for(driver, "return location.pathname === '/supervisor';")
                await asyncio.to_thread(driver.get, base + "/supervisor?lang=ru")  # signed in: the page in Russian
                await _wait_for(driver, "return document.documentElement.lang === 'ru';")
                await _wait_for(driver, "return document.querySelectorAll('#callbacks button.cancel').length === 1;")
                assert "+16502530000" in driver.find_element(By.ID, "callbacks").text
                shot = tmp_path / "supervisor-callbacks-ru.png"
                assert driver.save_screenshot(str(shot))
                if keep := os.environ.get("CCQUEUE_SUPERVISOR_SCREENSHOTS"):
                    shutil.copyfile(shot, Path(keep) / shot.name)
                driver.execute_script("window.confirm = () => true; document.querySelector('#callbacks button.cancel').click();")
                await _wait_for(driver, "return document.getElementById('message').textContent;")
                assert driver.find_element(By.ID, "message").text.startswith("Обратный звонок отменён")
                await _wait_for(driver, "return document.querySelectorAll('#callbacks button.cancel').length === 0;")
                assert engine.acd.views.callback(callback_id) is None
            finally:
                await asyncio.to_thread(driver.quit)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
