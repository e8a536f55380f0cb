"""The web console in a real headless Chromium against a real ``embedb serve`` on loopback.

Debian's ``chromium`` (installed by ``make install``) driven by Playwright; nothing
is downloaded at test time. Every page must load without a console error; a
search must return hits; a promotion with a reader token is refused and shown as
an error, one with an admin token (promotion is an admin operation, as in the
API) moves the alias and shows in the alias history with its reason; the console
also works over TLS. Screenshots of each page go to ``test-artifacts/console``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from tests.support.bound_collections import bound_schema
from tests.support.server_process import REPOSITORY, TEST_EMBEDDERS, ServerProcess, issue_token, start_server

from embedb.backends.http import HttpBackend
from embedb.datasets import load_revdict

ARTIFACTS = REPOSITORY / "test-artifacts" / "console"
DATA = load_revdict()


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "Debian's chromium is not installed: `make install` installs it (apt-get install chromium)"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server with a collection whose field has two versions, a finished backfill and a running experiment."""
    data = tmp_path_factory.mktemp("console") / "data"
    server = start_server(data, allow_code_models=TEST_EMBEDDERS)
    admin = HttpBackend(server.url, token=server.token)
    model = f"m_{uuid.uuid4().hex[:8]}"
    admin.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion", description="word hashing")
    admin.register_model(model, "embedb.models.testing:hash_embed_16", description="the challenger")
    schema = bound_schema(model, max_length=2000, text_ids=True)
    admin.create_collection("words", schema=schema)
    admin.insert("words", [{"id": doc, "text": text} for doc, text in DATA.corpus[:500]])
    admin.flush("words")
    admin.add_embedding_version("words", "embedding", f"{model}/2", wait=True, timeout=60)
    for text in [text for _, text in DATA.queries[:20]]:
        admin.search("words", text, limit=5)
    admin.create_collection("other", dimension=4)
    try:
        yield {
            "server": server,
            "admin": admin,
            "model": model,
            "reader": issue_token(data, "reader"),
            "writer": issue_token(data, "writer"),
        }
    finally:
        admin.close()
        server.stop()


class Session:
    """A page with its console errors collected, signed in with a token."""

    def __init__(self, browser: Browser, url: str, token: str, *, https: bool = False) -> None:
        self.context = browser.new_context(ignore_https_errors=https, viewport={"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.goto(f"{url}/ui")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("heading", name="Collections").wait_for()

    def _console(self, message: ConsoleMessage) -> None:
        refused = "/v1/" in message.location.get("url", "") and any(code in message.text for code in ("403", "404"))
        if message.type == "error" and not refused:  # an API call refused or not found is the app's to show
            self.errors.append(message.text)

    def open(self, hash_: str, heading: str) -> Page:
        self.page.goto(self.page.url.split("#")[0] + hash_)
        self.page.get_by_role("heading", name=heading, exact=True).wait_for()
        return self.page

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_every_page_loads_and_a_search_returns_hits(browser: Browser, served: dict[str, Any]) -> None:
    session = Session(browser, served["server"].url, served["reader"])
    page = session.page
    expect(page.get_by_role("link", name="words")).to_be_visible()
    expect(page.get_by_role("link", name="other")).to_be_visible()
    session.shot("collections")
    page.get_by_role("link", name="words").click()
    page.get_by_role("heading", name="Collection words").wait_for()
    expect(page.get_by_role("table", name="fields of words")).to_be_visible()
    expect(page.get_by_role("img", name="searches per hour of each version of embedding")).to_be_visible()
    page.get_by_label("Query: text (embedded by the field's serving model) or a JSON vector").fill(DATA.corpus[3][1])
    page.get_by_label("Output fields").fill("text")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#search-results table")
    results.wait_for()
    assert "10 hits" in results.locator("caption").inner_text()
    assert results.locator("tbody tr").first.locator("td").nth(1).inner_text() == DATA.corpus[3][0]
    session.shot("collection")
    model = served["model"]
    session.open("#/models", "Models")
    page.get_by_role("link", name=model).click()
    page.get_by_role("heading", name=f"Model {model}").wait_for()
    expect(page.get_by_role("img", name=f"lineage of {model}: each version and the version it was made from")).to_be_visible()
    session.shot("model")
    session.open("#/jobs", "Jobs")
    expect(page.get_by_role("progressbar", name="job 1 progress")).to_be_visible()
    session.shot("jobs")
    assert session.errors == []
    session.close()


def test_a_reader_is_refused_a_promotion_and_an_admin_moves_the_alias(browser: Browser, served: dict[str, Any]) -> None:
    model, admin = served["model"], served["admin"]
    for token in (served["reader"], served["writer"]):
        session = Session(browser, served["server"].url, token)
        page = session.open("#/collections/words", "Collection words")
        page.get_by_role("button", name=f"Promote models:/{model}/2").click()
        page.get_by_label("Reason (kept in the alias history)").fill("should not happen")
        page.get_by_role("button", name="Confirm").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "permission_denied (403)" in alert.inner_text() and "needs admin" in alert.inner_text()
        session.close()
    assert admin.describe_model(model)["aliases"] == {"champion": 1}
    session = Session(browser, served["server"].url, served["server"].token)
    page = session.open("#/collections/words", "Collection words")
    page.get_by_role("button", name=f"Promote models:/{model}/2").click()
    page.get_by_label("Reason (kept in the alias history)").fill("promoted from the console")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("status").filter(has_text="→ models:/").wait_for()
    assert admin.describe_model(model)["aliases"] == {"champion": 2}
    page = session.open(f"#/models/{model}", f"Model {model}")
    history = page.get_by_role("table", name="every alias move, newest last")
    assert "promoted from the console" in history.locator("tbody tr").last.inner_text()
    session.shot("alias-history")
    assert session.errors == []
    session.close()


def test_an_experiment_page_shows_its_verdict_live(browser: Browser, served: dict[str, Any]) -> None:
    admin, model = served["admin"], served["model"]
    serving = next(v for v in admin.describe_collection("words")["embedding_versions"]["embedding"] if v["serving"])
    other = f"models:/{model}/1" if serving["model_version"].endswith("/2") else f"models:/{model}/2"
    started = admin.start_experiment("words", "embedding", champion=serving["model_version"], challenger=other, mode="interleave")
    for user, (_, text) in enumerate(DATA.queries[:30]):
        (hits,) = admin.search("words", text, limit=5, user_key=f"u{user}")
        if hits:
            admin.feedback("words", hits[0]["query_id"], hits[0]["id"])
    session = Session(browser, served["server"].url, served["server"].token)
    page = session.open("#/experiments", "Experiments")
    page.get_by_role("link", name=f"#{started['experiment_id']}").click()
    page.get_by_role("heading", name=f"Experiment #{started['experiment_id']}").wait_for()
    expect(page.get_by_role("table", name="the verdict over time")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("the challenger minus the champion over time"))).to_be_visible()
    rows = page.get_by_role("table", name="the verdict over time").locator("tbody tr")
    expect(rows.last).to_contain_text("30")  # the last point: every logged query
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("STOPPED").first.wait_for()
    session.shot("experiment")
    assert session.errors == []
    session.close()


def test_keyboard_users_reach_the_token_field_and_the_console_works_over_tls(
    browser: Browser, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server: ServerProcess = start_server(
        tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https", verify=str(cert)
    )
    try:
        assert server.url.startswith("https://") and server.token is not None
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.goto(f"{server.url}/ui")
        page.get_by_label("API token").wait_for()
        assert page.evaluate("document.activeElement.id") == "token", "the sign-in page starts in the token field"
        page.keyboard.type("not-a-token")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Sign in"
        page.keyboard.press("Enter")
        assert "unauthenticated" in page.get_by_role("alert").inner_text().lower()
        page.get_by_label("API token").fill(server.token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Collections").wait_for()
        assert "admin" in page.locator("#identity").inner_text()
        context.close()
    finally:
        server.stop()


def test_a_newcomer_follows_a_backfill_and_an_experiment_to_a_promotion_by_clicking(
    browser: Browser, served: dict[str, Any], tmp_path: Path
) -> None:
    admin = served["admin"]
    model = f"flow_{uuid.uuid4().hex[:6]}"
    admin.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    admin.register_model(model, "tests.support.toy_embedders:scrambled_8")
    schema = bound_schema(model, max_length=2000, text_ids=True)
    judged = [query for query, _ in DATA.queries[:30]]
    relevant = {doc for query in judged for doc in DATA.qrels[query]}
    admin.create_collection("flow", schema=schema)
    admin.insert("flow", [{"id": doc, "text": text} for doc, text in DATA.corpus if doc in relevant])
    session = Session(browser, served["server"].url, served["server"].token)
    page = session.open("#/collections/flow", "Collection flow")
    expect(page.get_by_text("No policy: a person runs the loop")).to_be_visible()
    admin.set_policy("flow", "embedding", {"mode": "suggest", "triggers": ["decay"]})
    page.reload()
    page.get_by_role("button", name="Run the next step").click()
    expect(page.get_by_role("table", name="the policy's last steps, newest last")).to_contain_text("no decay", timeout=10_000)
    page.get_by_label("Mode", exact=True).select_option("off")
    page.get_by_role("button", name="Set mode").click()
    expect(page.get_by_text("Mode off, state idle")).to_be_visible()
    assert admin.get_policy("flow", "embedding")["policy"]["triggers"] == ["decay"], "the rest of the policy is kept"
    page.get_by_label("Add a model version to embedding").fill(f"{model}/2")
    page.get_by_role("button", name="Start backfill").click()
    expect(page.get_by_role("table", name="model versions of embedding")).to_contain_text(f"models:/{model}/2", timeout=30_000)
    expect(page.get_by_role("table", name="backfill jobs with their progress")).to_contain_text("DONE", timeout=60_000)
    page.reload()
    page.get_by_role("heading", name="Collection flow").wait_for()
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    texts = dict(DATA.queries)
    queries.write_text("".join(f'{{"_id": "{q}", "text": "{texts[q]}"}}\n' for q in judged))
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q in judged for d, g in DATA.qrels[q].items()))
    page.get_by_label("Queries (BEIR queries.jsonl: one {\"_id\", \"text\"} per line)").set_input_files(str(queries))
    page.get_by_label("Judgements (BEIR qrels.tsv: query-id, corpus-id, score)").set_input_files(str(qrels))
    page.get_by_role("button", name="Evaluate").click()
    metrics = page.get_by_role("table", name="metrics on 30 judged queries")
    expect(metrics).to_contain_text(f"models:/{model}/2", timeout=30_000)
    expect(page.get_by_role("img", name=re.compile("per version"))).to_be_visible()
    session.shot("evaluation")
    page.get_by_label(f"Challenger of models:/{model}/1").select_option(f"models:/{model}/2")
    page.get_by_role("button", name="Start experiment").click()
    page.get_by_role("heading", name=re.compile(r"Experiment #\d+")).wait_for()
    page.get_by_role("button", name="Promote the challenger").click()
    page.get_by_label("Reason (kept in the alias history)").fill("clicked through by a newcomer")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status").filter(has_text="→ models:/")).to_be_visible()
    assert admin.describe_model(model)["aliases"] == {"champion": 2}
    assert admin.model_alias_history(model, "champion")[-1]["reason"] == "clicked through by a newcomer"
    assert session.errors == []
    session.close()


def test_a_scoped_token_sees_its_collections_lists_and_bad_addresses_are_reported(
    browser: Browser, served: dict[str, Any]
) -> None:
    import httpx

    server = served["server"]
    assert httpx.head(f"{server.url}/ui/").status_code == 200
    scoped = issue_token(server.data_path, "reader", ["words"])
    session = Session(browser, server.url, scoped)
    page = session.page
    expect(page.get_by_role("link", name="words")).to_be_visible()
    expect(page.get_by_role("link", name="other")).to_have_count(0)
    session.open("#/jobs", "Jobs")
    expect(page.get_by_role("table", name="backfill jobs with their progress")).to_contain_text("words")
    session.open("#/experiments", "Experiments")
    expect(page.get_by_role("table", name="champion/challenger experiments")).to_be_visible()
    session.open("#/models", "Models")
    expect(page.get_by_text("needs a token valid for every collection")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    page.goto(page.url.split("#")[0] + "#/models/%ZZ")
    expect(page.get_by_role("alert")).to_contain_text("URI")
    assert session.errors == []
    session.close()
