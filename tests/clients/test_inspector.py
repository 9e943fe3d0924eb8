"""The MCP Inspector 0.15.0 web UI in headless Chromium: our forms are plain, and a search typed as
a person types it returns what they asked for, valid according to the output schema.

One browser session (the suite stays fast): connect over stdio, check that every input of
search_tickets and create_ticket renders as a plain control showing its description, search with
plain text and a status, create a ticket from the form, and save screenshots of both forms and both
results under tests/artifacts/inspector/ (not committed) for a person to look at.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from support_db_mcp.services.operations import CATALOG
from tests.clients.inspector import CHROMIUM, CHROMIUM_FLAGS, connect_and_list_tools, inspector, open_tool

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "inspector"
PLAIN = {"string": "text box", "integer": "number field", "number": "number field", "boolean": "checkbox"}
VALID = "✓ Valid according to output schema"


def _expected_controls(tool: str) -> dict[str, str]:
    properties = CATALOG[tool].input_schema["properties"]
    return {name: PLAIN[prop["type"]] for name, prop in properties.items()}


def _run_and_read_result(page: Page) -> str:
    page.get_by_role("button", name="Run Tool").click()
    heading = page.get_by_text(re.compile(r"^Tool Result:"))
    heading.wait_for(timeout=60_000)
    mark = page.get_by_text(re.compile(r"Valid according to output schema|Validation Error"))
    if mark.count():
        mark.first.scroll_into_view_if_needed()  # the screenshot then shows the mark
    result: str = page.get_by_role("tabpanel").inner_text()
    return result[result.index("Tool Result:") :]


def test_the_inspector_renders_plain_forms_and_a_typed_search_returns_valid_tickets(
    clients_cache: Path, fresh_server_env: dict[str, str]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "support_db_mcp"]
    with inspector(command, fresh_server_env) as running, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            connect_and_list_tools(page, running.url)
            assert page.get_by_text("Error output from MCP server").count() == 0  # nothing on stderr

            search = open_tool(page, "search_tickets")
            assert search.controls == _expected_controls("search_tickets")
            for name, prop in CATALOG["search_tickets"].input_schema["properties"].items():
                assert search.placeholders[name] == prop["description"], name
            page.locator('[id="text"]').fill("refund")
            page.locator('[id="status"]').fill("open")
            page.screenshot(path=str(ARTIFACTS / "search_tickets-form.png"), full_page=True)
            found = _run_and_read_result(page)
            page.screenshot(path=str(ARTIFACTS / "search_tickets-result.png"), full_page=True)

            create = open_tool(page, "create_ticket")
            assert create.controls == _expected_controls("create_ticket")
            for name, prop in CATALOG["create_ticket"].input_schema["properties"].items():
                assert create.placeholders[name] == prop["description"], name
            page.locator('[id="title"]').fill("Refund for a double charge, filed from the Inspector")
            page.locator('[id="description"]').fill("The card was charged twice for the March invoice.")
            page.locator('[id="creator"]').fill("1")
            page.locator('[id="tags"]').fill("billing, inspector")
            page.screenshot(path=str(ARTIFACTS / "create_ticket-form.png"), full_page=True)
            created = _run_and_read_result(page)
            page.screenshot(path=str(ARTIFACTS / "create_ticket-result.png"), full_page=True)
        finally:
            browser.close()

    assert found.startswith("Tool Result: Success") and VALID in found, found[:2000]
    structured = found[found.index("Structured Content:") : found.index(VALID)]
    statuses = re.findall(r'status:\s*"(\w+)"', structured)
    assert statuses and set(statuses) == {"open"}, structured[:2000]  # open tickets only
    assert re.search(r'number:\s*"TCK-\d{6,}"', structured) and re.search(r"(?i)refund", structured)
    assert created.startswith("Tool Result: Success") and VALID in created, created[:2000]
    assert re.search(r'tags:\s*\[\s*0:\s*"billing"\s*1:\s*"inspector"\s*\]', created), created
    assert re.search(r'priority:\s*"normal"', created) and re.search(r"replayed:\s*false", created)
