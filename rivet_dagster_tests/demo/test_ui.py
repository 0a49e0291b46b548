"""The demo in the Dagster UI, in a real browser: `make demo`, then the README's `dagster dev` command, driven in
headless Chromium (Debian's chromium + chromium-driver, through WebDriver) as a newcomer clicks through it. A
screenshot of each step goes to test-artifacts/ui/ (kept after a failure, with the page's text)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.dagster_services import ROOT, Webserver, wait_for
from rivet_dagster_tests.demo.conftest import readme_dagster_dev

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("RIVET_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "ui"
BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status numPartitions } } } }"
# Chromium as this machine's sandbox allows it: no GPU, and none of its own calls to Google's hosts.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]


class Browser:
    """The UI as a user sees it: open a page, wait for text, click what is labelled, keep a screenshot."""

    def __init__(self, driver, server: Webserver):
        self.driver, self.base = driver, f"http://127.0.0.1:{server.port}"

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, *texts: str, seconds: float = 60) -> None:
        wait_for(lambda: all(t in self.text() for t in texts), seconds, f"the page to show {texts}")

    def button(self, label: str, within=None):
        """The visible button whose text is `label` (waiting for it), scrolled into view."""
        scope = within or self.driver
        found = wait_for(lambda: [b for b in scope.find_elements(By.XPATH, f".//button[normalize-space()='{label}']")
                                  if b.is_displayed() and b.is_enabled()], 30, f"a '{label}' button")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
        return found[0]

    def dismiss_newsletter(self) -> None:
        """Dagster's first-visit invitation to its newsletter covers the page until skipped (once per profile)."""
        try:
            skip = wait_for(lambda: self.driver.find_elements(By.XPATH, "//*[@role='dialog']//button[normalize-space()"
                                                                        "='Skip']"), 20, "the newsletter dialog")
        except AssertionError:
            return   # this version did not ask
        skip[0].click()

    def dialog(self):
        return wait_for(lambda: self.driver.find_elements(By.XPATH, "//*[@role='dialog']"), 30, "a dialog")[-1]

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A screenshot when the step is done, or of where it stopped (and the page's text) when it fails."""
        try:
            yield
        except BaseException:
            self.driver.save_screenshot(str(SHOTS / f"{name}-FAILED.png"))
            (SHOTS / f"{name}-FAILED.txt").write_text(self.text())
            raise
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def ui(demo_project) -> Iterator[tuple[Browser, Webserver]]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={demo_project / 'chromium'}"]:
        options.add_argument(flag)
    with readme_dagster_dev(demo_project) as server:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(60)
            browser = Browser(driver, server)
            browser.open("/assets/orders")
            browser.dismiss_newsletter()
            yield browser, server
        finally:
            driver.quit()


def node_titles(browser: Browser) -> list[str]:
    """The asset names the lineage graph draws, one per node; none while it is being redrawn (its elements go
    stale under us, and the caller's wait asks again)."""
    try:
        texts = [e.text for e in browser.driver.find_elements(By.XPATH, "//*[name()='foreignObject']//*[text()]")]
    except StaleElementReferenceException:
        return []
    return [text for text in texts if text in ("orders", "revenue_by_status")]


def test_the_graph_draws_the_table_the_export_and_the_asset_downstream(ui):
    browser, _ = ui
    with browser.step("1-lineage"):
        browser.open("/assets/orders?view=lineage")
        browser.wait_for_text("revenue_by_status")
        # the table `sqlite_demo/main/orders` and the export `orders` are two nodes, then the downstream asset
        wait_for(lambda: sorted(node_titles(browser)) == ["orders", "orders", "revenue_by_status"], 30,
                 "three nodes")


def test_the_asset_page_shows_row_count_schema_and_plots_of_the_figures(ui):
    browser, _ = ui
    with browser.step("2-asset-page"):
        browser.open("/assets/orders")
        browser.wait_for_text("Row count", "50,000", "Columns", "customer_id", "amount", "receipt")
    with browser.step("3-plots"):
        browser.button("Plots").click()
        browser.wait_for_text("dagster/row_count", "rivet/rows_per_second", "rivet/bytes", "rivet/peak_rss_mb")
        assert len(browser.driver.find_elements(By.TAG_NAME, "canvas")) >= 4     # charts, not just their names


def test_a_backfill_launched_from_the_ui_exports_every_window_again(ui, demo_project):
    browser, server = ui
    state = StateStore(path=str(demo_project / "demo_data" / ".rivet_state.db"))
    before = {f["file_name"] for f in state.files("visits_daily")}
    with browser.step("4-backfill-dialog"):
        browser.open("/assets/visits_daily?view=partitions")
        browser.wait_for_text("Materialized (3)")
        browser.button("Materialize…").click()
        dialog = browser.dialog()
        browser.button("All", within=dialog).click()
        browser.wait_for_text("Backfills all partitions in a single run.")
    with browser.step("5-backfill-launched"):
        browser.button("Launch backfill", within=dialog).click()
        [backfill] = wait_for(lambda: server.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"], 30,
                              "the backfill to be recorded")
        assert backfill["numPartitions"] == 3
        done = wait_for(lambda: [b for b in server.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"]
                                 if b["status"] not in ("REQUESTED",)], 240, "the daemon to run the backfill")
        assert done[0]["status"] == "COMPLETED_SUCCESS", done
        browser.open(f"/runs/b/{backfill['id']}")                  # the backfill's page, as the UI links it
        browser.wait_for_text("Succeeded", "visits_daily", "100% completed")
    after = state.files("visits_daily")
    assert len(after) == 3 and not {f["file_name"] for f in after} & before       # each window replaced
    assert all(f["row_count"] == 1_000 and (demo_project / "output" / f["file_name"]).exists() for f in after)
    assert not [name for name in before if (demo_project / "output" / name).exists()]


def test_a_check_launched_from_the_ui_passes(ui, demo_project):
    browser, _ = ui
    key = dg.AssetCheckKey(dg.AssetKey("orders"), "validate")
    home = str(demo_project / "demo_data" / "dagster_home")

    def latest():
        with dg.DagsterInstance.from_config(home) as instance:
            return instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)

    ran_before = latest().run_id
    with browser.step("6-check"):
        browser.open("/assets/orders?view=checks")
        browser.button("Execute").click()
        record = wait_for(lambda: (r := latest()) and r.run_id != ran_before and r.status.value != "PLANNED" and r,
                          180, "the check's run")
        assert record.status.value == "SUCCEEDED"
        browser.open("/assets/orders?view=checks")
        browser.wait_for_text("Passed", "rows_read", "50000")
