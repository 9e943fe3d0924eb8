"""server.json, the MCP Registry entry, against the registry's published schema and this package.

The schema is the registry's own file, kept in this folder as published at
https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json
(source: github.com/modelcontextprotocol/registry, generated from docs/reference/api/openapi.yaml;
copied 2026-11-25). Its SHA-256 is pinned below, so a changed copy fails loudly instead of
validating against something else.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft7Validator
from pydantic import AliasChoices, SecretStr

from support_db_mcp import __version__
from support_db_mcp.config import Settings
from support_db_mcp.server import create_server

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = Path(__file__).with_name("server.schema.json")
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture
def server_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REPO / "server.json").read_text())
    return document


@pytest.fixture
def package(server_json: dict[str, Any]) -> dict[str, Any]:
    (only,) = server_json["packages"]
    package: dict[str, Any] = only
    return package


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"SUPPORT_DB_{field.upper()}"


def is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def test_the_schema_file_is_the_published_2025_12_11_schema() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert json.loads(SCHEMA_FILE.read_text())["$id"] == SCHEMA_URL


def test_server_json_is_valid_against_the_registry_schema(
    validator: Draft7Validator, server_json: dict[str, Any]
) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(server_json)
    ]

    assert errors == []
    assert server_json["$schema"] == SCHEMA_URL


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("description",), "x" * 101),
        (("name",), "support-db-mcp"),
        (("packages", 0, "version"), "latest"),
        (("packages", 0, "transport", "type"), "carrier-pigeon"),
        (("packages", 0, "environmentVariables", 0, "isSecret"), "yes"),
    ],
    ids=["description-too-long", "name-without-namespace", "version-latest", "unknown-transport", "bad-flag"],
)
def test_the_validation_catches_a_broken_server_json(
    validator: Draft7Validator, server_json: dict[str, Any], path: tuple[str | int, ...], bad_value: object
) -> None:
    broken = copy.deepcopy(server_json)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value

    assert not validator.is_valid(broken)


def test_server_json_names_this_package_its_version_and_the_stdio_transport(
    server_json: dict[str, Any], package: dict[str, Any]
) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    assert package["registryType"] == "pypi"
    assert package["registryBaseUrl"] == "https://pypi.org"
    assert package["identifier"] == project["name"] == "support-db-mcp"
    assert package["version"] == server_json["version"] == __version__
    assert package["transport"] == {"type": "stdio"}
    assert "support-db-mcp" in project["scripts"]  # what `uvx support-db-mcp` runs
    assert server_json["description"] == create_server().description


def test_the_readme_carries_the_registry_ownership_marker(server_json: dict[str, Any]) -> None:
    # The registry checks a PyPI package by finding `mcp-name: <name>` in its published README.
    assert f"mcp-name: {server_json['name']}" in (REPO / "README.md").read_text()


def test_server_json_lists_exactly_the_environment_variables_the_settings_read(
    package: dict[str, Any],
) -> None:
    listed = {variable["name"] for variable in package["environmentVariables"]}
    read = {env_name(field) for field in Settings.model_fields}

    assert sorted(read - listed) == [], "settings missing from server.json: add them with a description"
    assert sorted(listed - read) == [], "server.json lists variables no setting reads"


def test_only_and_all_the_secrets_are_marked_secret(package: dict[str, Any]) -> None:
    marked = {variable["name"] for variable in package["environmentVariables"] if variable.get("isSecret")}
    secret = {env_name(field) for field in Settings.model_fields if is_secret(field)}

    assert {"DATABASE_URL", "SUPPORT_DB_HTTP_TOKEN"} <= marked
    assert marked == secret


def test_every_environment_variable_is_described_and_optional(package: dict[str, Any]) -> None:
    for variable in package["environmentVariables"]:
        assert len(variable.get("description", "")) > 20, variable["name"]
        assert variable["isRequired"] is False, f"{variable['name']}: the server runs with no configuration"
