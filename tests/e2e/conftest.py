"""End-to-end fixtures: the real Asterisk 22 sandbox, baresip agents, PostgreSQL, and
the real ``ccqueue run`` process.

Ports are apart from the demo's so both can run on one machine. The sandbox and the
phones live for the session; each test gets a fresh database and a fresh daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from testbed.baresip import Softphone
from testbed.daemon import CcqueueProcess, write_users
from testbed.ports import free_block
from testbed.sandbox import AsteriskSandbox
from tests.support.probe import AmiProbe

REPO = Path(__file__).resolve().parents[2]


# Ports of this run: Asterisk (AMI, SIP), ccqueue (FastAGI, HTTP), three softphones
# (SIP and its TLS neighbour, control) and Asterisk's RTP range.
_BASE = free_block(40)
AMI_PORT, SIP_PORT, AGI_PORT, HTTP_PORT = _BASE, _BASE + 1, _BASE + 2, _BASE + 3
PHONE_PORTS = [(_BASE + 10 + 3 * n, _BASE + 12 + 3 * n) for n in range(3)]  # (sip, ctrl); sip+1 is TLS
CRM_PORT = _BASE + 5  # a stand-in CRM that IVR tests start (tests/e2e/test_ivr.py)
# The second member of an active/standby pair (tests/e2e/test_standby.py): the dialplan
# tries its FastAGI address after the first one's (nobody listens there otherwise).
STANDBY_AGI_PORT, STANDBY_HTTP_PORT = _BASE + 6, _BASE + 7
RTP_BASE = free_block(900, first=30000, last=50000)  # Asterisk 800, phones 20 each
AMI_USER, AMI_SECRET = "ccqueue", "e2e-secret"
AGENTS = {"agent1": "e2e-pass-1", "agent2": "e2e-pass-2", "agent3": "e2e-pass-3"}
RING_TIMEOUT_S = 4
WIDEN_AFTER_S = 4
SKILLS = {"agent1": "{billing: 5}", "agent2": "{billing: 2, tech: 3}", "agent3": "{tech: 5}"}

pytestmark = pytest.mark.e2e


def campaign_hours(now: dt.datetime | None = None) -> str:
    """A calling window (UTC hours) open now and for the next two hours at least; a
    contact in a zone 11-13 h away from UTC is outside it (tests/e2e/test_outbound.py)."""
    hour = (now or dt.datetime.now(dt.UTC)).hour
    return f"{max(0, hour - 1):02d}:00-{min(24, hour + 3):02d}:00"


def write_config(folder: Path, *, ami: int = AMI_PORT, agi: int = AGI_PORT, http: int = HTTP_PORT) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    hours = campaign_hours()
    addresses = f"addresses: [127.0.0.1:{agi}, 127.0.0.1:{STANDBY_AGI_PORT}]" if agi == AGI_PORT else ""
    (folder / "ccqueue.yaml").write_text(
        f"""
asterisk:
  ami: {{host: 127.0.0.1, port: {ami}, username: {AMI_USER}, secret: {AMI_SECRET}}}
  agi: {{host: 127.0.0.1, port: {agi}, {addresses}}}
http: {{host: 127.0.0.1, port: {http}}}
hotlines:
  "100": {{queue: support}}
  "200": {{queue: billing}}
  "400": {{queue: small}}
  "500": {{ivr: menu}}
  "510": {{ivr: quiet}}
  "520": {{ivr: after-hours-holiday}}
  "521": {{ivr: after-hours-weekly}}
  "530": {{ivr: crm}}
  "540": {{ivr: survey, survey: true}}
callbacks:
  dial: "Local/{{digits}}@ccqueue-test-trunk"
  caller_id: "400"
  region: US
  allowed: ['\\+1202555\\d{{4}}']
  max_attempts: 2
  retry_delay_s: 5
  ring_timeout_s: 15
outbound:
  dial: "Local/{{digits}}@standin-pstn"
  region: US
  allowed: ['\\+12025550[1-6]\\d{{2}}']
  max_channels: 6
campaigns:
  e2e-progressive:
    mode: progressive
    queues: [support]
    caller_id: "+12025550199"
    max_lines: 2
    ring_timeout_s: 16
    retry: {{busy: {{after_s: 3, max_tries: 2}}, no_answer: null, machine: null, failed: null}}
    window: {{hours: "{hours}"}}
  e2e-predictive:
    mode: predictive
    queues: [billing]
    caller_id: "+12025550199"
    max_lines: 2
    window: {{hours: "{hours}"}}
  e2e-broadcast:
    mode: broadcast
    queues: [small]
    caller_id: "+12025550199"
    max_lines: 2
    broadcast_message: ccqueue/broadcast-sample
    window: {{hours: "{hours}"}}
  e2e-preview:
    mode: preview
    queues: [support]
    caller_id: "+12025550199"
    max_lines: 1
    window: {{hours: "{hours}"}}
  e2e-message:
    mode: progressive
    queues: [support]
    caller_id: "+12025550199"
    max_lines: 1
    on_machine: leave_message
    machine_message: ccqueue/machine-message
    retry: {{machine: null}}
    window: {{hours: "{hours}"}}
"""
    )
    (folder / "queues.yaml").write_text(
        f"""
queues:
  support:
    ring_timeout_s: {RING_TIMEOUT_S}
    wrapup_s: 1
    missed_cooldown_s: 30
    returning_customer: {{window_s: 600, wait_s: 10}}
  billing:
    strategy: best_skill
    ring_timeout_s: {RING_TIMEOUT_S}
    wrapup_s: 1
    missed_cooldown_s: 1
    steps:
      - {{require: {{billing: 4}}, duration_s: {WIDEN_AFTER_S}}}
      - {{require: {{billing: 1}}}}
    auto_pause: {{after_misses: 2, window_s: 600}}
  small:
    ring_timeout_s: {RING_TIMEOUT_S}
    wrapup_s: 1
    missed_cooldown_s: 1
    limits: {{max_waiting: 1}}
    overflow:
      full: {{message: ccqueue/queue-full}}
    announce:
      first_after_s: 1
      every_s: 4
      min_history: 0
      max_spread: 10
      periodic: [ccqueue/ivr-closed]
      periodic_every_s: 2
"""
    )
    agents = "\n".join(
        f"  {a}: {{name: {a.title()}, password: {p}, queues: [support, billing, small], skills: {SKILLS[a]}}}"
        for a, p in AGENTS.items()
    )
    (folder / "agents.yaml").write_text(f"agents:\n{agents}\n")
    write_ivr_config(folder)
    write_users(folder)


def write_ivr_config(folder: Path, *, crm: int = CRM_PORT) -> None:
    """IVR trees for hotlines 500-540 (tests/e2e/test_ivr.py) and the schedules they test.

    ``holiday-today`` is open around the clock except on holidays that cover today, the
    day before and the day after in Auckland (so it is closed whenever the suite runs);
    ``never`` has no open hours at all.
    """
    zone = "Pacific/Auckland"
    today = dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()
    holidays = "\n".join(f"      - {{date: {today + dt.timedelta(days=d)}, name: test day}}" for d in (-1, 0, 1))
    every_day = "\n".join(f'      {day}: ["00:00-24:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    (folder / "ivr.yaml").write_text(
        f"""
schedules:
  holiday-today:
    time_zone: {zone}
    hours:
{every_day}
    holidays:
{holidays}
  never:
    time_zone: UTC
ivr:
  menu:
    entry: main
    nodes:
      main:
        menu:
          prompt: ccqueue/ivr-main-menu
          keys: {{"1": billing, "2": support}}
          timeout_s: 3
          retries: 1
          invalid_prompt: pm-invalid-option
          on_exhausted: goodbye
      billing:
        queue: {{name: billing}}
      support:
        queue: {{name: support}}
      goodbye:
        hangup: {{prompts: [vm-goodbye], reason: no-choice}}
  quiet:
    entry: main
    nodes:
      main:
        menu: {{prompt: beep, keys: {{"9": goodbye}}, timeout_s: 2, retries: 1, on_exhausted: operator}}
      operator:
        queue: {{name: support}}
      goodbye:
        hangup: {{prompts: [vm-goodbye]}}
  after-hours-holiday:
    entry: hours
    nodes:
      hours:
        branch:
          conditions:
            - {{schedule_closed: holiday-today, goto: message}}
          otherwise: support
      support:
        queue: {{name: support}}
      message:
        voicemail: {{max_s: 30, prompt: ccqueue/leave-message}}
  after-hours-weekly:
    entry: hours
    nodes:
      hours:
        branch:
          conditions:
            - {{schedule_open: never, goto: support}}
          otherwise: closed
      support:
        queue: {{name: support}}
      closed:
        hangup: {{prompts: [vm-goodbye], reason: after-hours}}
  crm:
    entry: lookup
    nodes:
      lookup:
        lookup:
          url: "http://127.0.0.1:{crm}/customers/{{caller}}"
          timeout_s: 2
          fields: {{name: customer_name, vip: vip, account.tier: tier}}
          next: vip-check
          on_failure: crm-failed
      vip-check:
        branch:
          conditions:
            - {{variable: vip, equals: "true", goto: vip}}
          otherwise: regular
      vip:
        queue: {{name: support, priority: 10}}
      regular:
        set: {{variables: {{route: regular}}, next: support}}
      crm-failed:
        set: {{variables: {{route: crm-failed}}, next: support}}
      support:
        queue: {{name: support}}
  survey:
    entry: support
    nodes:
      support:
        queue: {{name: support}}
"""
    )


@pytest.fixture(scope="session")
def e2e_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-config")
    write_config(folder)
    return folder


@contextlib.contextmanager
def running_asterisk(name: str, config: Path, *, ami: int, sip: int, agi: int, rtp: tuple[int, int]) -> Iterator[AsteriskSandbox]:
    """An Asterisk instance of this run's own, configured from ``config``, removed afterwards."""
    sandbox = AsteriskSandbox(f"{name}-{os.getpid()}", config, ami_port=ami, sip_port=sip, agi_port=agi, rtp_ports=rtp)
    sandbox.build()
    sandbox.configure()
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
        sandbox.destroy()  # the instance's folder in the sandbox root


@pytest.fixture(scope="session")
def asterisk(e2e_config: Path) -> Iterator[AsteriskSandbox]:
    with running_asterisk("e2e", e2e_config, ami=AMI_PORT, sip=SIP_PORT, agi=AGI_PORT, rtp=(RTP_BASE, RTP_BASE + 799)) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def phones(asterisk: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Softphone]]:
    started: dict[str, Softphone] = {}
    try:
        for n, (agent, password) in enumerate(AGENTS.items()):
            phone = Softphone(
                agent,
                password,
                sip_server_port=SIP_PORT,
                listen_port=PHONE_PORTS[n][0],
                ctrl_port=PHONE_PORTS[n][1],
                rtp_ports=(RTP_BASE + 800 + 20 * n, RTP_BASE + 819 + 20 * n),
                audio_file=REPO / "sounds" / "en" / "agent-silence.wav",
                workdir=tmp_path_factory.mktemp(f"phone-{agent}"),
            )
            phone.start()
            started[agent] = phone
        for agent, phone in started.items():
            phone.wait_registered(timeout=20, check=lambda a=agent: asterisk.is_registered(a))
        yield started
    finally:
        for phone in started.values():
            phone.stop()


@pytest.fixture(autouse=True)
def _no_away_callers_of_earlier_tests(request: pytest.FixtureRequest) -> None:
    """Callers an earlier test left while its ccqueue was down would be recorded into
    this test's fresh database: Asterisk's database outlives a test, PostgreSQL's does not."""
    if "asterisk" in request.fixturenames:
        request.getfixturevalue("asterisk").rx("database deltree ccqueue-away")


class Daemon(CcqueueProcess):
    """The ccqueue process under test, with its own database."""


@pytest.fixture
def database(pg_dsn: str) -> str:
    subprocess.run([sys.executable, "-m", "ccqueue.cli", "migrate", "--dsn", pg_dsn], check=True, cwd=REPO, capture_output=True)
    return pg_dsn


@contextlib.contextmanager
def running_daemon(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], config: Path, database: str, tmp_path: Path
) -> Iterator[Daemon]:
    """ccqueue on ``config``, the phones answering by themselves; afterwards Asterisk is
    left clean for the next test, and what ccqueue said is shown on failure."""
    for phone in phones.values():
        phone.set_answermode("auto")
    d = Daemon(
        config=config,
        dsn=database,
        http_port=HTTP_PORT,
        log_path=tmp_path / "ccqueue.log",
        spool_dir=tmp_path / "spool",
        log_args=("--log-level", "debug"),
    )
    d.start()
    try:
        yield d
    finally:
        d.stop()
        asterisk.rx("channel request hangup all")
        asterisk.rx("database deltree ccqueue-away")
        sys.stderr.write(d.log_text()[-6000:])


@pytest.fixture
def daemon(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[Daemon]:
    with running_daemon(asterisk, phones, e2e_config, database, tmp_path) as d:
        yield d


@pytest.fixture
async def probe(asterisk: AsteriskSandbox) -> AsyncIterator[AmiProbe]:
    async with AmiProbe(port=AMI_PORT, username=AMI_USER, secret=AMI_SECRET) as p:
        yield p


async def wait_row(dsn: str, sql: str, *args: Any, timeout: float = 15, check: Any = None) -> Any:
    """Poll PostgreSQL until ``sql`` returns a row (that passes ``check``); return it."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            row = await conn.fetchrow(sql, *args)
            if row is not None and (check is None or check(row)):
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"no row for {sql!r} {args} within {timeout} s (last: {row})")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
