"""End to end in headless Chromium: log in, compare the pages' numbers with the API,
watch the live page change without a reload when sales arrive, keep screenshots.

daphne and the relay run as real subprocesses; the "consumer" here applies new
events to the Redis speed views and publishes the update on ``P:updates``
exactly as docs/CONTRACTS.md describes.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from e2e_support import ARTIFACTS, PASSWORD, Server

PAGES = [
    ("/", "overview"),
    ("/top-books/", "top-books"),
    ("/regions/", "regions"),
    ("/genres/", "genres"),
    ("/customers/", "customers"),
    ("/pipeline/", "pipeline"),
    ("/settings/", "settings"),
    ("/live/", "live"),
    ("/api/docs/", "api-docs"),
]


def _login(
    browser: Any, server: Server, width: int = 1440, height: int = 900, user: str = "e2e-analyst"
) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(server.url + "/")
    assert "/login/" in page.url
    page.screenshot(path=str(ARTIFACTS / "00-login.png"))
    page.fill("#id_username", user)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    return page


def _api(page: Any, path: str) -> dict[str, Any]:
    return page.evaluate(
        f"fetch('/api/analytics/{path}', {{credentials: 'same-origin'}}).then(r => r.json())"
    )


def _wait_loaded(page: Any, count: int = 1) -> None:
    page.wait_for_function(f"Number(document.body.dataset.loaded || 0) >= {count}", timeout=15000)


def test_dashboard_numbers_equal_the_api(browser: Any, server: Server) -> None:
    page = _login(browser, server)
    _wait_loaded(page)
    api = _api(page, "summary/?days=30")
    for key in ("revenue_cents", "orders", "units", "average_order_value_cents", "refunds"):
        shown = page.get_attribute(f"[data-kpi={key}]", "data-value")
        assert int(shown) == api["totals"][key], key
    assert page.inner_text("[data-kpi=revenue_cents]").startswith("$")
    books = _api(page, "top-books/?days=30&limit=5")
    shown_ids = page.eval_on_selector_all("#top-books tbody tr", "rows => rows.map(r => r.dataset.book)")
    assert shown_ids == [b["book_id"] for b in books["results"]]

    # A filter re-fetches without reloading the page.
    page.evaluate("window.__noReload = true")
    page.select_option("#f-days", "7")
    _wait_loaded(page, 2)
    api7 = _api(page, "summary/?days=7")
    assert (
        int(page.get_attribute("[data-kpi=revenue_cents]", "data-value")) == api7["totals"]["revenue_cents"]
    )
    page.click("#interval button[data-interval=week]")
    _wait_loaded(page, 3)
    assert page.evaluate("window.__noReload") is True
    assert "interval=week" in page.url


def test_screenshots_of_every_page(browser: Any, server: Server) -> None:
    page = _login(browser, server)
    for path, name in PAGES:
        page.goto(
            server.url
            + path
            + ("?days=90" if path in ("/", "/top-books/", "/regions/", "/genres/", "/customers/") else "")
        )
        if name == "api-docs":
            page.wait_for_selector(".swagger-ui .info", timeout=15000)
        elif name != "settings":
            _wait_loaded(page)
        page.wait_for_timeout(400)  # chart animations
        page.screenshot(
            path=str(ARTIFACTS / f"{PAGES.index((path, name)) + 1:02d}-{name}.png"), full_page=True
        )
        assert not page.evaluate("document.body.dataset.error || ''"), name
    mobile = _login(browser, server, 390, 844)
    _wait_loaded(mobile)
    mobile.wait_for_timeout(400)
    mobile.screenshot(path=str(ARTIFACTS / "20-overview-mobile.png"), full_page=True)


def test_region_page_matches_api(browser: Any, server: Server) -> None:
    page = _login(browser, server)
    page.goto(server.url + "/regions/?days=90")
    _wait_loaded(page)
    api = _api(page, "sales-by-region/?days=90")
    shown = page.eval_on_selector_all(
        "#dimension-table tbody tr",
        "rows => rows.map(r => [r.dataset.member, Number(r.cells[1].dataset.value)])",
    )
    assert shown == [[r["region"], r["revenue_cents"]] for r in api["results"]]


def test_settings_saved_per_user(browser: Any, server: Server) -> None:
    page = _login(browser, server)
    page.goto(server.url + "/settings/")
    page.select_option("#id_default_days", "90")
    page.select_option("#id_default_interval", "week")
    page.click("form.form button[type=submit]")
    page.wait_for_selector(".msg")
    page.goto(server.url + "/")
    _wait_loaded(page)
    assert page.input_value("#f-days") == "90"
    assert "on" in page.get_attribute("#interval button[data-interval=week]", "class")
    page.goto(server.url + "/settings/")
    page.select_option("#id_default_days", "30")
    page.select_option("#id_default_interval", "day")
    page.click("form.form button[type=submit]")


def test_live_page_updates_without_reload(browser: Any, server: Server) -> None:
    from api import speed, testdata

    page = _login(browser, server)
    page.goto(server.url + "/live/")
    page.wait_for_function("document.getElementById('conn').dataset.state === 'open'", timeout=10000)
    _wait_loaded(page)
    page.evaluate("window.__noReload = true")
    before = int(page.get_attribute("[data-live=revenue_cents]", "data-value"))
    today = datetime.now(UTC).date()
    expected_before = sum(e.revenue_cents for e in server.dataset.events if e.event_date == today)
    assert before == expected_before

    template = server.dataset.events[-1]
    new = []
    for i in range(3):
        fields = {f: getattr(template, f) for f in template.__slots__}
        fields.update(
            event_id=str(uuid.uuid4()),
            order_id=f"O-E2E-{i}",
            line_no=1,
            event_type="sale",
            event_time_ms=int(time.time() * 1000),
            quantity=2 + i,
        )
        new.append(type(template)(**fields))
    r = speed.client()
    message = testdata.speed_apply(r, new, server.catalogue)
    sent_at = time.monotonic()
    testdata.update_publish(r, message)
    expected = expected_before + sum(e.revenue_cents for e in new)
    page.wait_for_function(
        f"document.querySelector('[data-live=revenue_cents]').dataset.value === '{expected}'", timeout=5000
    )
    took = time.monotonic() - sent_at
    assert took < 5
    assert page.evaluate("window.__noReload") is True
    first_order = page.eval_on_selector("#orders-table tbody tr", "r => r.cells[1].innerText")
    assert "O-E2E-" in first_order
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "21-live-after-update.png"), full_page=True)
    (ARTIFACTS / "live-latency.json").write_text(json.dumps({"publish_to_dom_s": round(took, 3)}))


def test_insights_panel_and_explore_page(browser: Any, server: Server) -> None:
    """Staff: the overview's quick insights equal the API's; Explore runs a query and shows a refusal."""
    page = _login(browser, server, user="e2e-staff")
    page.wait_for_selector("#insights[data-state=ready]", timeout=15000)
    api = _api(page, "insights/")
    shown = page.eval_on_selector_all(
        "#insight-list li.insight", "items => items.map(i => [i.dataset.kind, i.innerText])"
    )
    assert sorted(shown) == sorted([i["kind"], f"{i['severity']}\n{i['text']}"] for i in api["insights"])
    page.locator("#insights").screenshot(path=str(ARTIFACTS / "22-overview-insights.png"))

    page.click("a[href='/explore/']")
    page.wait_for_url(server.url + "/explore/")
    _wait_loaded(page)  # the audit list
    page.click("#run")
    page.wait_for_selector("#result-meta[data-state=ok]", timeout=10000)
    _wait_loaded(page, 2)  # the audit list, reloaded after the run
    assert page.locator("#result-table tbody tr").count() == 20
    headers = page.eval_on_selector_all("#result-table thead th", "t => t.map(h => h.textContent)")
    assert headers == ["date", "revenue_cents", "orders", "units"]
    page.screenshot(path=str(ARTIFACTS / "23-explore.png"), full_page=True)
    page.fill("#sql", "DELETE FROM agg_daily_sales")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#query-error:not([hidden])", timeout=10000)
    assert page.inner_text("#query-error").startswith("Refused (write): DELETE is a write")
    assert page.is_hidden("#result-card")
    _wait_loaded(page, 3)
    assert page.inner_text("#audit-table tbody tr:first-child").count("refused") == 1
    page.screenshot(path=str(ARTIFACTS / "24-explore-refused.png"), full_page=True)
    assert not page.evaluate("document.body.dataset.error || ''")
