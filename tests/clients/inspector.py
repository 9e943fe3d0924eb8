"""The MCP Inspector 0.15.0 web UI with our server over stdio, driven by headless Chromium.

`npx @modelcontextprotocol/inspector` starts two things: its proxy (`server/build/index.js`, which
spawns the MCP server over stdio and talks to the page; it binds 127.0.0.1) and a static file server
for the page (`client/bin/client.js`, which binds every interface and has no option to change
that). We start the proxy exactly as `client/bin/start.js` does (PORT, CLIENT_PORT and
MCP_PROXY_TOKEN in its environment) and serve the page's files ourselves on 127.0.0.1. The page
learns where the proxy is and its token from the query string (MCP_PROXY_FULL_ADDRESS,
MCP_PROXY_AUTH_TOKEN), and the server to start from transport/serverCommand/serverArgs.

Run as a script (`.venv/bin/python -m tests.clients.inspector OUT_DIR`) it does what the test does
against the server `support-db-mcp` would start from this environment (DATABASE_URL or the embedded
database) and prints what each field of the search_tickets and create_ticket forms rendered as.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Page, sync_playwright

from tests.processes import free_port, logged_process

INSPECTOR_VERSION = "0.15.0"
CACHE = Path(
    os.environ.get("SUPPORT_DB_CLIENTS_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "support-db-mcp" / "clients"
)
PACKAGE = CACHE / "inspector" / "node_modules" / "@modelcontextprotocol" / "inspector"
CHROMIUM = Path("/usr/bin/chromium")
# What a person's browser would not do here: no sandbox as root, no GPU, no calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROXY_READY = "Proxy server listening"
INSTALL_HINT = "run `bash tests/clients/install.sh` (npm registry and apt)"


def missing() -> list[str]:
    """What this machine lacks to run the Inspector in a browser, each with how to get it."""
    problems = []
    if not (PACKAGE / "package.json").exists():
        problems.append(f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION} is not in {CACHE}")
    elif json.loads((PACKAGE / "package.json").read_text())["version"] != INSPECTOR_VERSION:
        problems.append(f"the Inspector in {CACHE} is not version {INSPECTOR_VERSION}")
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (Debian package chromium)")
    return problems


class _PageFiles(http.server.SimpleHTTPRequestHandler):
    """The page's static files; any other path is the single-page app's index.html, as the
    Inspector's own client.js serves it."""

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.path = "/index.html"
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures
        pass


@dataclass
class RunningInspector:
    url: str
    proxy: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextmanager
def inspector(command: Sequence[str], env: dict[str, str], timeout: float = 60) -> Iterator[RunningInspector]:
    """The Inspector's proxy and page, ready for a browser at `.url`, set to start `command`."""
    dist = PACKAGE / "client" / "dist"
    page_server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(_PageFiles, directory=str(dist))
    )
    client_port = page_server.server_address[1]
    serving = threading.Thread(target=page_server.serve_forever, daemon=True)
    serving.start()
    proxy_port, token = free_port(), secrets.token_hex(32)
    query = {
        "MCP_PROXY_AUTH_TOKEN": token,
        "MCP_PROXY_FULL_ADDRESS": f"http://127.0.0.1:{proxy_port}",
        "transport": "stdio",
        "serverCommand": command[0],
        "serverArgs": shlex.join(command[1:]),
    }
    proxy_env = {
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(proxy_port),
        "CLIENT_PORT": str(client_port),
        "MCP_PROXY_TOKEN": token,
    }
    proxy_command = ["node", str(PACKAGE / "server" / "build" / "index.js")]
    try:
        with logged_process(
            proxy_command, proxy_env, ready_line=PROXY_READY, timeout=timeout, what="the Inspector proxy"
        ) as (proxy, lines):
            yield RunningInspector(
                url=f"http://127.0.0.1:{client_port}/?{urlencode(query)}", proxy=proxy, lines=lines
            )
    finally:
        page_server.shutdown()
        page_server.server_close()


# ---------------------------------------------------------------- the page
def control_of(page: Page, name: str) -> str:
    """What the Inspector rendered for input `name` of the selected tool.

    ToolsTab gives its plain controls the property's name as id (a textarea for a string, a number
    input for a number or integer, a checkbox for a boolean); anything else goes to DynamicJsonForm,
    whose JSON editor carries no such id.
    """
    element = page.locator(f'[id="{name}"]')
    if element.count() == 0:
        return "JSON editor"
    tag = str(element.evaluate("e => e.tagName.toLowerCase()"))
    if tag == "textarea":
        return "text box"
    if tag == "input" and element.get_attribute("type") == "number":
        return "number field"
    if element.get_attribute("role") == "checkbox":
        return "checkbox"
    return tag


@dataclass
class FormReport:
    tool: str
    controls: dict[str, str]  # input name -> what it rendered as
    placeholders: dict[str, str]  # input name -> the hint shown in its control (its description)


def open_tool(page: Page, tool: str) -> FormReport:
    """Select `tool` in the list; report the control of every input its form shows."""
    page.get_by_text(tool, exact=True).first.click()
    page.get_by_role("heading", name=tool, exact=True).wait_for()
    labels = page.get_by_role("tabpanel").locator("label[for]")
    names = list(dict.fromkeys(labels.evaluate_all("ls => ls.map(l => l.htmlFor)")))
    controls = {name: control_of(page, name) for name in names}
    placeholders = {}
    for name, control in controls.items():
        if control in ("text box", "number field"):
            placeholders[name] = page.locator(f'[id="{name}"]').get_attribute("placeholder") or ""
        elif control == "checkbox":
            placeholders[name] = page.locator(f'label[for="{name}"]').last.inner_text()
    return FormReport(tool, controls, placeholders)


def connect_and_list_tools(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Connect").click()
    page.get_by_text("Connected", exact=True).wait_for(timeout=90_000)
    page.get_by_role("tab", name="Tools").click()
    page.get_by_role("button", name="List Tools").click()
    page.get_by_text("search_tickets", exact=True).first.wait_for()


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0] if argv else "tests/artifacts/inspector")
    out.mkdir(parents=True, exist_ok=True)
    problems = missing()
    if problems:
        sys.stderr.write("; ".join(problems) + f": {INSTALL_HINT}\n")
        return 2
    command = [sys.executable, "-m", "support_db_mcp"]
    with inspector(command, dict(os.environ)) as running, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 3000})
        connect_and_list_tools(page, running.url)
        for tool in ("search_tickets", "create_ticket"):
            report = open_tool(page, tool)
            page.screenshot(path=str(out / f"{tool}-form.png"), full_page=True)
            for name, control in report.controls.items():
                sys.stdout.write(f"{tool}.{name}: {control}: {report.placeholders.get(name, '')!r}\n")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
