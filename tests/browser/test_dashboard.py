"""The dashboard in Debian's headless Chromium (Playwright, no browser download), served by a
real `kubetask dashboard` process over a real etcd, with a scheduler and workers running."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubetask.cli import render
from kubetask.client import AsyncClient, TaskSpec
from kubetask.etcd_process import free_port
from kubetask.model import TaskState
from tests.harness import InProcessSystem, Proc
from tests.integration.test_prefetch import busy_worker_with_prefetched

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.etcd,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is absent: `make system-deps` installs it "
                              "(apt-get install chromium)"),
]

async_api = pytest.importorskip("playwright.async_api",
                                reason="playwright is not installed (the test extra has it)")
expect = async_api.expect
TIMEOUT = 15_000  # ms, for every expectation on the page


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
async def dashboard(cli_env: dict[str, str], tmp_path: Path) -> AsyncIterator[str]:
    """`kubetask dashboard --allow-writes` as a real process; yields the URL it printed."""
    port = free_port()
    proc = Proc(["dashboard", "--port", str(port), "--allow-writes"], cli_env,
                tmp_path / "dashboard.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        async with asyncio.timeout(30):
            while not await asyncio.to_thread(_answers, f"{url}healthz"):
                assert proc.popen.poll() is None, proc.output()
                await asyncio.sleep(0.2)
        assert url in proc.output()  # the command prints where to point the browser
        yield url
    finally:
        proc.stop()


@pytest.fixture
async def page(dashboard: str) -> AsyncIterator[async_api.Page]:
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                           args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 1000})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(dashboard)
            yield page
            assert errors == [], errors  # no script error while the test ran
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def steady_load(client: AsyncClient) -> AsyncIterator[None]:
    """A trickle of short tasks, so workers are busy and the chart has something to show."""
    async def submit() -> None:
        i = 0
        while True:
            await client.submit_many([TaskSpec("echo", {"duration": 0.4, "n": i + k},
                                               name=f"load-{i + k}", priority=k % 4)
                                      for k in range(4)])
            i += 4
            await asyncio.sleep(0.5)

    task = asyncio.create_task(submit())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def queue_cell(page: async_api.Page, queue: str, stat: str) -> async_api.Locator:
    return page.locator(f'#queues tr[data-queue="{queue}"] td[data-stat="{stat}"]')


async def test_dashboard_shows_counts_live_tasks_and_acts(page: async_api.Page,
                                                          client: AsyncClient,
                                                          system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(node_id="worker-a", max_concurrent=4)
    await system.worker(node_id="worker-b", max_concurrent=4)
    done = await client.submit_many([TaskSpec("echo", {"duration": 0}, name=f"warmup-{i}")
                                     for i in range(5)])
    dead = await client.submit("no-such-type", name="doomed", max_retries=0)
    parked = await client.submit_many([TaskSpec("echo", queue="parked", name=f"parked-{i}",
                                                priority=i % 4) for i in range(3)])
    await client.wait([t.id for t in [*done, dead]], timeout=30)

    # The counts, as etcd has them.
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=TIMEOUT)
    await expect(queue_cell(page, "default", "succeeded")).to_have_text("5", timeout=TIMEOUT)
    await expect(queue_cell(page, "default", "dead")).to_have_text("1", timeout=TIMEOUT)
    await expect(queue_cell(page, "parked", "pending")).to_have_text("3", timeout=TIMEOUT)
    await client.configure_queue("parked", max_retries=5, retry_base=2, retry_cap=120)
    await expect(page.locator('#queues tr[data-queue="parked"] .queue-config')).to_have_text(
        "5 retries \u00b7 backoff 2\u2013120 s", timeout=TIMEOUT)
    await expect(page.locator('#queues tr[data-queue="default"] .queue-config')).to_have_count(0)
    await expect(page.locator("#totals [data-total=workers] .value")).to_have_text("2")
    await expect(page.locator("[data-worker=worker-a] [data-meter=slots]")).to_be_visible()
    await expect(page.locator("#mode")).to_have_text("writes enabled")

    # A task submitted through the SDK shows up without a reload.
    await page.evaluate("window.__sameDocument = true")
    hostile = "<img src=x onerror=window.__xss=1>"
    new = await client.submit("echo", {"html": hostile}, queue="parked", name="from-sdk")
    row = page.locator(f'#tasks tr[data-id="{new.id}"]')
    await expect(row).to_be_visible(timeout=TIMEOUT)
    await expect(row.locator("[data-col=state] .badge")).to_have_text("pending")
    assert await page.evaluate("window.__sameDocument") is True

    # Its details show the payload as text (never as HTML); cancel it from the page.
    await row.click()
    detail = page.locator("#detail")
    await expect(detail.locator("#detail-payload")).to_contain_text(hostile, timeout=TIMEOUT)
    assert await page.evaluate("window.__xss") is None
    await detail.locator("#detail-cancel").click()
    await expect(detail.locator("#detail-state")).to_have_text("cancelled", timeout=TIMEOUT)
    await expect(row.locator("[data-col=state] .badge")).to_have_text("cancelled",
                                                                      timeout=TIMEOUT)
    assert (await client.get(new.id)).state is TaskState.CANCELLED
    await detail.locator("#detail-close").click()

    # Retry the dead task from its details: it runs again (and, typeless, dies again).
    await page.select_option("#filters [name=state]", "dead")
    dead_row = page.locator(f'#tasks tr[data-id="{dead.id}"]')
    await dead_row.click()
    await expect(detail.locator("#detail-attempts tbody tr")).to_have_count(1, timeout=TIMEOUT)
    await expect(detail.locator("#detail-error")).to_contain_text("no executor")
    await detail.locator("#detail-retry").click()
    await expect(page.locator(".toast").first).to_contain_text("queued again", timeout=TIMEOUT)
    await expect(detail.locator("#detail-attempts tbody tr")).to_have_count(2, timeout=TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-dead-task.png"))
    again = await client.get(dead.id)
    assert len(again.history) == 2 and again.state is TaskState.DEAD
    await detail.locator("#detail-close").click()
    await page.select_option("#filters [name=state]", "")

    # Submit from the page.
    await page.locator("#submit-open").click()
    form = page.locator("#submit-form")
    await form.locator("[name=queue]").fill("parked")
    await form.locator("[name=name]").fill("from-the-page")
    await form.locator("[name=priority]").select_option("3")
    await form.locator("[name=payload]").fill('{"who": "browser"}')
    await form.locator("#submit-send").click()
    await expect(page.locator("#tasks tr", has_text="from-the-page")).to_be_visible(
        timeout=TIMEOUT)
    stored = [t for t in await client.list(queue="parked") if t.name == "from-the-page"]
    assert len(stored) == 1 and stored[0].payload == {"who": "browser"}
    assert stored[0].priority == 3
    await expect(queue_cell(page, "parked", "pending")).to_have_text("4", timeout=TIMEOUT)
    assert {t.id for t in parked} <= {t.id for t in await client.list(queue="parked")}

    # Bad input is refused with the server's message, in the form.
    await page.locator("#submit-open").click()
    await form.locator("[name=queue]").fill("no/slashes")
    await form.locator("#submit-send").click()
    await expect(page.locator("#submit-error")).to_contain_text("'/'", timeout=TIMEOUT)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-submit.png"))
    await form.locator("[data-close]").first.click()


async def test_dashboard_screenshot(page: async_api.Page, client: AsyncClient,
                                    system: InProcessSystem) -> None:
    """A picture of a busy system, saved under artifacts/ for people to look at."""
    await system.scheduler()
    for name in ("worker-1", "worker-2", "worker-3"):
        await system.worker(node_id=name, max_concurrent=3)
    await client.submit_many([TaskSpec("no-such-type", name="broken-import", max_retries=0),
                              *[TaskSpec("echo", queue="reports", name=f"report-{i}",
                                         priority=i % 4) for i in range(6)],
                              TaskSpec("echo", {"duration": 3600}, delay=3600,
                                       name="nightly-cleanup")])
    await client.configure_queue("reports", max_retries=5, retry_base=2, retry_cap=120)
    async with steady_load(client):
        await expect(page.locator("#live")).to_have_attribute("data-state", "live",
                                                             timeout=TIMEOUT)
        await asyncio.sleep(12)  # a few seconds of throughput on the chart
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await page.locator("#tasks tbody tr").first.click()
        await expect(page.locator("#detail-state")).not_to_be_empty(timeout=TIMEOUT)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-task.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


async def test_failed_attempts_sit_apart_from_the_task_states(page: async_api.Page,
                                                              client: AsyncClient,
                                                              system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(node_id="worker-a")
    doomed = await client.submit("no-such-type", name="doomed", max_retries=0)
    await client.wait([doomed.id], timeout=30)

    card = page.locator("#totals [data-total=failed_attempts]")
    await expect(card.locator(".label")).to_have_text("Failed attempts")
    await expect(card.locator(".value")).to_have_text("1", timeout=TIMEOUT)
    await expect(queue_cell(page, "default", "failed_attempts")).to_have_text("1",
                                                                             timeout=TIMEOUT)
    await expect(page.locator("#queues thead th.attempts")).to_have_text("Failed attempts")
    await expect(page.locator("[data-total=failed], [data-stat=failed]")).to_have_count(0)
    # Among the queue's columns the state counts come first, the attempts after them.
    headers = [h.strip().lower() for h in await page.locator("#queues thead th").all_inner_texts()]
    assert headers.index("failed attempts") > headers.index("cancelled")
    # It is no state a task can be filtered by.
    states = await page.locator("#filters [name=state] option").all_inner_texts()
    assert "failed" not in states and "failed attempts" not in states
    figure = page.locator("[data-worker=worker-a] [data-figure=failed_attempts]")
    await expect(figure).to_contain_text("1failed attempts", timeout=TIMEOUT)
    await expect(page.locator("#workers-sub ~ .note")).to_contain_text("since each worker started")


async def test_worker_cards_use_the_width_and_busy_slots_are_not_red(
        page: async_api.Page, client: AsyncClient, system: InProcessSystem) -> None:
    await system.scheduler()
    for name in ("worker-1", "worker-2", "worker-3"):
        await system.worker(node_id=name, max_concurrent=2)
    slow = await client.submit_many([TaskSpec("echo", {"duration": 30}, name=f"slow-{i}")
                                     for i in range(6)])
    full = page.locator("[data-worker=worker-1] [data-meter=slots] .v")
    await expect(full).to_have_text("2 / 2", timeout=TIMEOUT)
    await expect(page.locator("#workers [data-worker]")).to_have_count(3, timeout=TIMEOUT)

    # Measured in one step: the cards are redrawn on every stats update, so boxes taken one
    # by one could each come from another drawing (or from a card just replaced).
    boxes, grid = await page.evaluate("""() => {
        const box = (e) => { const r = e.getBoundingClientRect();
                             return {x: r.x, width: r.width}; };
        const cards = [...document.querySelectorAll("#workers [data-worker]")];
        return [cards.map(box), box(document.querySelector("#workers"))];
    }""")
    assert len(boxes) == 3, boxes
    right = max(b["x"] + b["width"] for b in boxes)
    assert right >= grid["x"] + grid["width"] - 2, (boxes, grid)  # the row is filled
    fill = page.locator("[data-worker=worker-1] [data-meter=slots] .bar span")
    colour = await fill.evaluate("e => getComputedStyle(e).backgroundColor")
    error = await page.evaluate("""() => {
        const probe = document.createElement("i");
        probe.style.color = "var(--bad)";
        document.body.append(probe);
        const c = getComputedStyle(probe).color;
        probe.remove();
        return c;
    }""")
    assert colour != error, "a full slot bar is drawn in the error colour"
    for task in slow:
        await client.cancel(task.id)


async def test_the_chart_opens_with_the_last_two_minutes(page: async_api.Page,
                                                         client: AsyncClient,
                                                         system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(node_id="worker-1")
    async with steady_load(client):
        await asyncio.sleep(8)  # history the page has not seen
        await page.reload()
        chart = page.locator("#chart")
        # the seed from the server's history: ten points or more (not the empty chart's 0)
        await expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d+$"),
                                              timeout=TIMEOUT)
        # At most one live point a second, after 4 s: these come from the server's history.
        points = int(await chart.get_attribute("data-points") or 0)
        span = int(await chart.get_attribute("data-span") or 0)
    assert points >= 10 and span >= 60, (points, span)


async def test_a_task_id_can_be_copied_whole(page: async_api.Page, client: AsyncClient) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    task = await client.submit("echo", queue="parked", name="copy-me")
    row = page.locator(f'#tasks tr[data-id="{task.id}"]')
    await expect(row).to_be_visible(timeout=TIMEOUT)
    assert task.id not in await row.locator("td.id").inner_text()  # shown shortened
    await expect(row.locator("td.id")).to_have_attribute("title", task.id)
    await row.hover()
    await row.locator(".copy-id").click()
    assert await page.evaluate("navigator.clipboard.readText()") == task.id
    await expect(page.locator("#detail")).not_to_be_visible()  # copying opens nothing
    await page.evaluate("navigator.clipboard.writeText('')")
    await row.click()
    await expect(page.locator("#detail-id")).to_have_text(task.id, timeout=TIMEOUT)
    await page.locator("#detail-copy").click()
    await expect(page.locator(".toast").last).to_contain_text(task.id, timeout=TIMEOUT)
    assert await page.evaluate("navigator.clipboard.readText()") == task.id


async def test_a_screenshot_with_a_virtual_time_budget_returns(
        dashboard: str, client: AsyncClient, system: InProcessSystem, tmp_path: Path) -> None:
    """`chromium --virtual-time-budget` waits for open requests; the live event stream never
    ends, so the page must notice the stopped clock and poll instead."""
    await system.scheduler()
    await system.worker(node_id="worker-1")
    done = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(3)])
    await client.wait([t.id for t in done], timeout=30)
    shot = tmp_path / "shot.png"
    browser = await asyncio.create_subprocess_exec(
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
        f"--screenshot={shot}", "--window-size=1400,900", dashboard,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    try:
        async with asyncio.timeout(60):
            _, stderr = await browser.communicate()
    except TimeoutError:
        pytest.fail("chromium --virtual-time-budget=5000 --screenshot did not return in 60 s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, signal.SIGKILL)  # its helper processes too
        await browser.wait()
    assert browser.returncode == 0, stderr.decode()[-2000:]
    assert shot.stat().st_size > 10_000


async def test_ages_read_as_the_cli_prints_them(page: async_api.Page, client: AsyncClient,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """1m40s is "1m" in `kubetask task list` and `kubetask stats`; the page said "2m ago"
    (it rounded where the CLI floors), so the two disagreed for half of every minute."""
    task = await client.submit("echo", queue="parked", name="aged")
    later = task.created_at + 100
    monkeypatch.setattr(render.time, "time", lambda: later)
    assert render.age(task.created_at) == "1m"
    await page.clock.set_fixed_time(datetime.datetime.fromtimestamp(later, datetime.UTC))
    await page.reload()
    created = page.locator(f'#tasks tr[data-id="{task.id}"] td:nth-child(9)')
    await expect(created).to_have_text("1m ago", timeout=TIMEOUT)


async def test_an_attempts_error_is_read_whole_in_the_dialog(
        page: async_api.Page, client: AsyncClient, system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(node_id="default-workers-76f4bd5bb6-nmj8m")  # a pod's name, as long
    dead = await client.submit("no-such-type", name="doomed", max_retries=0)
    await client.wait([dead.id], timeout=30)
    row = page.locator(f'#tasks tr[data-id="{dead.id}"]')
    await expect(row).to_be_visible(timeout=TIMEOUT)
    await row.click()
    cell = page.locator("#detail-attempts tbody tr td").last
    await expect(cell).to_contain_text("no executor", timeout=TIMEOUT)
    # Measured in one turn of the page's script, on the table as it is then: the dialog is
    # re-rendered as the page refreshes, and a cell found by one call may be detached by
    # the next.
    fits = await page.evaluate("""() => {
        const cells = document.querySelectorAll("#detail-attempts tbody tr td");
        const td = cells[cells.length - 1];
        const box = td.closest(".scroll").getBoundingClientRect();
        const r = td.getBoundingClientRect();
        const row = document.querySelector("#detail-attempts tbody tr");
        return {inside: r.right <= box.right + 1, whole: td.scrollWidth <= td.clientWidth + 1,
                right: r.right, edge: box.right,
                widths: [...row.children].map((c) => Math.round(c.getBoundingClientRect().width))};
    }""")
    assert fits["inside"] and fits["whole"], fits


async def test_a_draining_workers_free_slots_are_not_counted(
        page: async_api.Page, client: AsyncClient, system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(node_id="worker-a", max_concurrent=2)
    await system.worker(node_id="worker-b", max_concurrent=2)
    first = await client.submit("echo", {"duration": 0})  # workers show under a known queue
    await client.wait([first.id], timeout=30)
    sub = page.locator("#workers-sub")
    await expect(sub).to_have_text("2 workers \u00b7 0 of 4 slots busy", timeout=TIMEOUT)
    assert await client.drain_worker("default", "worker-b")
    await expect(page.locator("[data-worker=worker-b]")).to_contain_text("draining",
                                                                         timeout=TIMEOUT)
    # worker-b takes nothing more: 2 slots can take work, not 4.
    await expect(sub).to_have_text("2 workers (1 draining) \u00b7 0 of 2 slots busy",
                                   timeout=TIMEOUT)


async def test_prefetched_tasks_are_not_drawn_as_busy_slots(
        page: async_api.Page, client: AsyncClient, system: InProcessSystem) -> None:
    """One slot runs a long task and 2 tasks wait for it, prefetched: the card says 1 of 1
    slot busy and +2, not "3 / 1", and the header counts 1 busy slot of 1."""
    await busy_worker_with_prefetched(system, client, prefetched=2, prefetch=2,
                                      prefetch_hold=30.0)
    meter = page.locator("[data-worker=busy] [data-meter=slots]")
    await expect(meter.locator(".v")).to_have_text("1 / 1 +2", timeout=TIMEOUT)
    await expect(meter).to_have_attribute("title", re.compile(r"^1 of 1 slots busy; 2 more "
                                                              r"assigned, prefetched"))
    await expect(page.locator("#workers-sub")).to_have_text("1 worker \u00b7 1 of 1 slots busy",
                                                            timeout=TIMEOUT)


async def test_a_tasks_attempts_name_the_retry_budget_that_applies(
        page: async_api.Page, client: AsyncClient) -> None:
    """As `kubetask task get`: the queue's retries when it sets them, else the workers'
    (the page said "queue default" for both, even of a queue that sets none)."""
    await client.configure_queue("parked", max_retries=5)
    queued = await client.submit("echo", queue="parked", name="budgeted")
    plain = await client.submit("echo", queue="other", name="unbudgeted")
    attempts = page.locator("#detail-facts div", has_text="Attempts").locator("dd")
    for task, text in ((queued, "0 of 6 (queue parked's retries)"),
                       (plain, "0 (retries: the workers' --max-retries, default 3)")):
        row = page.locator(f'#tasks tr[data-id="{task.id}"]')
        await expect(row).to_be_visible(timeout=TIMEOUT)
        await row.click()
        await expect(attempts).to_have_text(text, timeout=TIMEOUT)
        await page.locator("#detail-close").click()


async def test_an_empty_namespace_says_there_are_no_tasks_yet(page: async_api.Page,
                                                               client: AsyncClient) -> None:
    """Not "No tasks match these filters." when no filter is set."""
    empty = page.locator("#tasks-empty")
    await expect(empty).to_have_text(
        "No tasks yet: submit one with Submit task or kubetask client.", timeout=TIMEOUT)
    await page.select_option("#filters [name=state]", "dead")
    await expect(empty).to_have_text("No tasks match these filters.", timeout=TIMEOUT)
