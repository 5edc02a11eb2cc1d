"""The agent's page in a real browser (Debian's chromium through selenium) against the
real Asterisk 22 sandbox, baresip agents and PostgreSQL.

One daemon, one database and one browser serve every scenario of this module. An agent
signs in through the sign-in page and logs in with the page's button; a real call rings
its baresip phone and the page pops the caller at the ring; the wrap-up is saved and
found in PostgreSQL; the same customer calls again (through the CRM look-up hotline) and
the pop shows the CRM card, the IVR path and the earlier call with its disposition and
note; a log-out asked during that call waits for its wrap-up. A caller name and a CRM
field holding markup show as text and never run.

Screenshots are kept in $CCQUEUE_ARTIFACTS/agent-page (default var/test-artifacts/agent-page).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccqueue.credentials import hash_password, hash_token
from testbed.baresip import Softphone
from testbed.daemon import ADMIN_TOKEN, ADMIN_USER
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import REPO, Daemon, fetch, running_daemon, wait_row, write_config
from tests.e2e.test_ivr import Crm, crm_server
from tests.support.postgres import PgServer
from tests.support.probe import AmiProbe, match

webdriver = pytest.importorskip("selenium.webdriver")
By = pytest.importorskip("selenium.webdriver.common.by").By
Select = pytest.importorskip("selenium.webdriver.support.select").Select
Service = pytest.importorskip("selenium.webdriver.chrome.service").Service

pytestmark = pytest.mark.e2e

ALICE_PASSWORD = "alice-takes-calls"
CUSTOMER = "+15550177"
SCRIPT_NAME = "<script>window.ccqRan=1</script>"
SCRIPT_FIELD = '<img src=x onerror="window.ccqRan=2">'
ARTIFACTS = Path(os.environ.get("CCQUEUE_ARTIFACTS", REPO / "var" / "test-artifacts")) / "agent-page"


def _write_agent_config(folder: Path) -> None:
    write_config(folder)
    (folder / "users.yaml").write_text(
        f"""users:
  {ADMIN_USER}: {{role: admin, tokens: ["{hash_token(ADMIN_TOKEN)}"]}}
  alice: {{role: agent, agent: agent1, password_hash: "{hash_password(ALICE_PASSWORD)}"}}
"""
    )
    (folder / "workspace.yaml").write_text(
        "workspace:\n  dispositions: [resolved, refund, escalated]\n  pause_reasons: [lunch, training]\n  language: en\n"
    )


def _driver() -> Any:
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.fail("chromium and chromium-driver (Debian packages) are needed")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--lang=en-US"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Desk:
    """The shared daemon, its database and the agent's browser."""

    def __init__(self, daemon: Daemon, driver: Any) -> None:
        self.daemon = daemon
        self.driver = driver

    async def js(self, script: str) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script)

    async def until(self, script: str, *, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(script)
            if value:
                return value
            assert time.monotonic() < deadline, f"the page never got there: {script}"
            await asyncio.sleep(0.05)

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element(By.ID, element_id).text)

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        assert await asyncio.to_thread(self.driver.save_screenshot, str(path))
        return path


@pytest.fixture(scope="module")
def desk(
    asterisk: AsteriskSandbox,
    phones: dict[str, Softphone],
    pg_server: PgServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Desk]:
    folder = tmp_path_factory.mktemp("agent-page-config")
    _write_agent_config(folder)
    pg_server.start()
    dsn = pg_server.create_database(f"agent_page_{os.getpid()}")
    subprocess.run([sys.executable, "-m", "ccqueue.cli", "migrate", "--dsn", dsn], check=True, cwd=REPO, capture_output=True)
    with running_daemon(asterisk, phones, folder, dsn, tmp_path_factory.mktemp("agent-page-daemon")) as daemon:
        driver = _driver()
        try:
            yield Desk(daemon, driver)
        finally:
            driver.quit()
            for agent in ("agent1", "agent2", "agent3"):
                daemon.http("POST", f"/api/agents/{agent}/logout")
    pg_server.drop_database(f"agent_page_{os.getpid()}")


async def _sign_in_and_log_in(desk: Desk) -> None:
    """The page sends a stranger to sign in; alice signs in and logs agent1 in (once)."""
    if await desk.js("return location.pathname === '/agent' && !!window.ccqSignedIn;"):
        return
    await asyncio.to_thread(desk.driver.get, desk.daemon.base_url + "/agent")
    await desk.until("return location.pathname === '/signin' && document.getElementById('user');")
    assert await desk.js("return location.search;") == "?next=/agent"
    desk.driver.find_element(By.ID, "user").send_keys("alice")
    desk.driver.find_element(By.ID, "password").send_keys(ALICE_PASSWORD)
    desk.driver.find_element(By.ID, "submit").click()
    await desk.until("return location.pathname === '/agent' && document.getElementById('state').dataset.state;")
    assert await desk.js("return document.getElementById('link').textContent;") == "live"
    assert "alice (agent)" in desk.text("who") and "Agent1 (agent1)" in desk.text("agent-name")
    # The configured pause reasons are offered.
    assert [o.text for o in Select(desk.driver.find_element(By.ID, "pause-reason")).options] == ["lunch", "training"]
    desk.driver.find_element(By.ID, "login").click()
    await desk.until("return document.getElementById('state').dataset.state === 'available';")
    await desk.js("window.ccqSignedIn = true;")


async def _wrap_up(desk: Desk, code: str, note: str) -> None:
    Select(desk.driver.find_element(By.ID, "disposition")).select_by_value(code)
    box = desk.driver.find_element(By.ID, "note")
    box.clear()
    box.send_keys(note)
    desk.driver.find_element(By.ID, "save").click()
    await desk.until("return document.getElementById('saved').className === 'ok';")


async def _pop_of(desk: Desk, probe: AmiProbe, caller_leg: str, since: int) -> dict[str, Any]:
    """Wait for the page to show the call; the pop as the page holds it."""
    pop = await desk.until(
        "const p = (window.ccqPops || []).at(-1); return p && !document.getElementById('call-card').hidden"
        " && document.getElementById('pop').dataset.callId === p.call_id && p;",
        timeout=20,
    )
    ring = await probe.wait_for(
        lambda m: (
            (match(Event="DialBegin")(m) or match(Event="Newstate", ChannelState="5")(m))
            and (m.get("DestChannel") or m.get("Channel") or "").startswith("PJSIP/agent1")
        ),
        timeout=5,
        since=since,
        what="agent1's phone ringing",
    )
    assert ring and caller_leg
    return pop


async def test_the_pop_shows_at_the_ring_with_the_earlier_call_and_the_wrapup_is_stored(
    desk: Desk, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    await _sign_in_and_log_in(desk)
    daemon = desk.daemon

    # 1. A first call: the pop, no earlier contact; the wrap-up lands in PostgreSQL.
    mark = len(probe.events)
    first = await probe.call_hotline(caller=CUSTOMER, name="Ann Example")
    pop = await _pop_of(desk, probe, first, mark)
    assert desk.text("caller") == CUSTOMER and desk.text("caller-name") == "Ann Example"
    assert pop["shown_at_ms"] - pop["rang_at_ms"] < 2000  # measured in bench/screen_pop.py
    await desk.until("return document.getElementById('history').textContent === 'No earlier contact.';")
    first_row = await wait_row(daemon.dsn, "select * from calls where caller = $1", CUSTOMER)
    await _until_phone(phones["agent1"], "in_call")
    await desk.until("return document.getElementById('state').dataset.state === 'on_call';")
    await probe.hangup(first)
    await desk.until("return document.getElementById('pop').textContent.includes('Call ended');")
    await _wrap_up(desk, "resolved", "Asked about the bill; explained.")
    note = await wait_row(daemon.dsn, "select * from call_notes where call_id = $1", first_row["call_id"])
    assert (note["agent"], note["disposition"], note["note"], note["saved_by"]) == (
        "agent1",
        "resolved",
        "Asked about the bill; explained.",
        "alice",
    )
    audit = await wait_row(daemon.dsn, "select actor, outcome, route from audit_log where route like '%/wrapup'")
    assert (audit["actor"], audit["outcome"]) == ("alice", "accepted")
    await desk.until("return document.getElementById('state').dataset.state === 'available';")

    # 2. The same customer again, through the CRM look-up: the card, the IVR path and the
    # earlier call with its disposition and note, all on the screen at the ring.
    crm = Crm(customers={CUSTOMER: {"name": "Ann Example", "vip": False, "account": {"tier": "gold"}}})
    async with crm_server(crm):
        mark = len(probe.events)
        second = await probe.call_hotline(number="530", caller=CUSTOMER, name="Ann Example")
        await desk.until("return (window.ccqPops || []).length === 2;", timeout=20)
        await desk.until("return document.querySelector('#history tr.history-call');")
    fields = desk.text("fields")
    assert "customer_name" in fields and "tier" in fields and "gold" in fields
    facts = desk.text("call-facts")
    assert "lookup → vip-check → regular → support" in facts and "support" in facts
    history = desk.text("history")
    assert "resolved" in history and "Asked about the bill; explained." in history
    assert first_row["call_id"] == await desk.js("return document.querySelector('#history tr.history-call').dataset.callId;")
    await desk.shot("screen-pop-with-history")

    # A log-out asked during the call waits for the wrap-up, and the page says so.
    await _until_phone(phones["agent1"], "in_call")
    await desk.until("return document.getElementById('state').dataset.state === 'on_call';")
    desk.driver.find_element(By.ID, "logout").click()
    await desk.until("return document.getElementById('pending').textContent.includes('Log-out pending');")
    await desk.shot("logout-pending")
    await probe.hangup(second)
    await desk.until("return document.getElementById('state').dataset.state === 'logged_out';")
    await _wrap_up(desk, "refund", "Refund promised.")
    second_row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1 and hotline = '530'", CUSTOMER, check=lambda r: r["agent"]
    )
    rows = await fetch(daemon.dsn, "select call_id, disposition from call_notes order by saved_at")
    assert [(r["call_id"], r["disposition"]) for r in rows] == [
        (first_row["call_id"], "resolved"),
        (second_row["call_id"], "refund"),
    ]
    # The report query counts them.
    counts = await fetch(
        daemon.dsn, "select disposition, calls from report_dispositions_between(now() - interval '1 hour', now())"
    )
    assert {r["disposition"]: r["calls"] for r in counts} == {"resolved": 1, "refund": 1}
    assert probe.seen(match(Event="DialBegin"), since=mark)


async def test_a_caller_name_and_a_crm_field_holding_markup_show_as_text(
    desk: Desk, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    await _sign_in_and_log_in(desk)
    if await desk.js("return document.getElementById('state').dataset.state;") != "available":
        desk.driver.find_element(By.ID, "login").click()
        await desk.until("return document.getElementById('state').dataset.state === 'available';")
    number = "+15550178"
    crm = Crm(customers={number: {"name": SCRIPT_FIELD, "vip": False}})
    async with crm_server(crm):
        shown = await desk.js("return (window.ccqPops || []).length;")
        caller = await probe.call_hotline(number="530", caller=number, name=SCRIPT_NAME)
        await desk.until(f"return (window.ccqPops || []).length === {shown + 1};", timeout=20)
    assert desk.text("caller-name") == SCRIPT_NAME  # the characters, as sent
    assert SCRIPT_FIELD in desk.text("fields")
    assert await desk.js("return window.ccqRan === undefined;")  # never ran
    assert await desk.js("return document.querySelectorAll('main script, main img').length;") == 0
    await desk.shot("markup-shown-as-text")
    # The same page in Russian, by its toggle (kept for the next visit), and back.
    desk.driver.find_element(By.ID, "lang").click()
    await desk.until("return document.documentElement.lang === 'ru';")
    assert desk.text("state") in ("Входящий вызов", "Разговор") and "Очередь" in desk.text("pop")
    assert desk.text("caller-name") == SCRIPT_NAME
    await desk.shot("screen-pop-russian")
    desk.driver.find_element(By.ID, "lang").click()
    await desk.until("return document.documentElement.lang === 'en';")
    await probe.hangup(caller)
    await _until_phone(phones["agent1"], "idle")


async def _until_phone(phone: Softphone, state: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while phone.call_state != state:
        assert time.monotonic() < deadline, f"{phone} never {state}"
        await asyncio.sleep(0.05)
