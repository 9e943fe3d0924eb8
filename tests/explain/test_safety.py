"""Layer 1: PostgreSQL's own parser decides what explain_query accepts, and says why it refuses."""

from __future__ import annotations

import pytest

from support_db_mcp.explain.safety import (
    MAX_SQL_CHARS,
    FunctionName,
    SortColumn,
    UnsafeQueryError,
    check_query,
)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM tickets WHERE status = 'open'",
        "with recent as (select * from tickets where created_at > now() - interval '1 day') "
        "select count(*) from recent",
        "VALUES (1, 'a'), (2, 'b')",
        "TABLE tags",
        "SELECT 1 UNION ALL SELECT 2",
        "  SELECT 1 ;  ",
        "/* leading comment */ SELECT 1 -- trailing comment",
        "SELECT 'a'';DELETE FROM tickets;--' AS not_a_statement",
        "SELECT $x$; DELETE FROM tickets $x$ AS dollar_quoted_text",
        "SELECT id FROM tickets WHERE title ILIKE '%refund%' ORDER BY created_at DESC LIMIT 5",
    ],
)
def test_plain_reads_are_accepted(sql: str) -> None:
    checked = check_query(sql)
    assert checked.sql and not checked.sql.endswith(";")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT 1; DELETE FROM tickets", "holds 2 statements"),
        ("SELECT 1 --\n; DELETE FROM tickets", "holds 2 statements"),
        ("SELECT 1 /* ; */; DROP TABLE tickets", "holds 2 statements"),
        ("SELECT 'x'; SELECT 'y'", "holds 2 statements"),
        ("-- only a comment", "no statement"),
        ("DELETE FROM tickets", "not DELETE"),
        ("UPDATE tickets SET title = 'x'", "not UPDATE"),
        ("INSERT INTO tags (name) VALUES ('x')", "not INSERT"),
        ("EXPLAIN ANALYZE DELETE FROM tickets", "this tool adds EXPLAIN itself"),
        ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "not COPY"),
        ("DO $$ BEGIN PERFORM pg_sleep(10); END $$", "not a DO block"),
        ("SET statement_timeout = 0", "not SET"),
        ("CREATE TABLE stolen AS SELECT * FROM users", "not CREATE TABLE AS"),
        ("WITH d AS (DELETE FROM tickets RETURNING id) SELECT count(*) FROM d", "contains DELETE"),
        ("WITH u AS (UPDATE tickets SET title = 'x' RETURNING 1) SELECT * FROM u", "contains UPDATE"),
        (
            "SELECT * FROM (SELECT 1) s, LATERAL (WITH i AS (INSERT INTO tags (name) VALUES ('x') "
            "RETURNING id) SELECT * FROM i) x",
            "contains INSERT",
        ),
        ("SELECT * INTO stolen FROM users", "SELECT INTO creates a table"),
        ("SELECT * FROM tickets FOR UPDATE", "FOR UPDATE/FOR SHARE"),
        ("SELECT * FROM tickets FOR SHARE SKIP LOCKED", "FOR UPDATE/FOR SHARE"),
        ("SELECT pg_sleep(30)", "pg_sleep(), which pauses"),
        ("SELECT PG_SLEEP(30)", "pg_sleep(), which pauses"),
        ('SELECT "pg_sleep"(30)', "pg_sleep(), which pauses"),
        ('SELECT U&"\\0070g_sleep"(30)', "pg_sleep(), which pauses"),
        ("SELECT pg_catalog.pg_sleep_for('1 minute')", "pg_catalog.pg_sleep_for(), which pauses"),
        ("SELECT id FROM tickets WHERE pg_sleep(1) IS NOT NULL", "pg_sleep()"),
        ("SELECT pg_advisory_lock(1)", "advisory lock"),
        ("SELECT pg_try_advisory_xact_lock(1)", "advisory lock"),
        ("SELECT set_config('role', 'none', true)", "changes server settings"),
        ("SELECT nextval('tickets_id_seq')", "moves a sequence"),
        ("SELECT setval('tickets_id_seq', 1)", "moves a sequence"),
        ("SELECT lo_import('/etc/passwd')", "large objects"),
        ("SELECT lo_export(1, '/tmp/x')", "large objects"),
        ("SELECT pg_read_file('/etc/passwd')", "reads files on the database server"),
        ("SELECT * FROM pg_ls_dir('/')", "lists folders"),
        ("SELECT pg_terminate_backend(1)", "kills another database session"),
        ("SELECT pg_cancel_backend(1)", "cancels another session's query"),
        ("SELECT dblink_exec('dbname=x', 'DELETE FROM tickets')", "dblink"),
        ("SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(x int)", "dblink"),
        ("SELECT query_to_xml('DELETE FROM tickets RETURNING 1', true, true, '')", "runs SQL given as text"),
        ("SELECT ts_stat('DELETE FROM tickets RETURNING NULL::tsvector')", "runs SQL given as text"),
        ("SELECT pg_notify('c', 'x')", "notifications"),
        ("SELECT txid_current()", "transaction id"),
        ("SELECT pg_reload_conf()", "configuration"),
        ("SELECT rolname, rolpassword FROM pg_authid", "pg_authid, which holds password hashes"),
        ("SELECT passwd FROM pg_catalog.pg_shadow", "pg_shadow, which holds password hashes"),
        ("SELECT table_to_xml('pg_authid'::regclass, true, false, '')", "reads a table named as text"),
        ("SELECT table_to_xmlschema('users'::regclass, true, false, '')", "reads a table named as text"),
        ("SELECT table_to_xml_and_xmlschema('users', true, false, '')", "reads a table named as text"),
        ("SELECT query_to_xml_and_xmlschema('SELECT 1', true, false, '')", "runs SQL given as text"),
        ("SELECT query_to_xmlschema('SELECT 1', true, false, '')", "runs SQL given as text"),
        ("SELECT cursor_to_xmlschema('c', true, false, '')", "reads from a cursor"),
        ("SELECT schema_to_xml('public', true, false, '')", "every table of a schema"),
        ("SELECT schema_to_xml_and_xmlschema('public', true, false, '')", "every table of a schema"),
        ("SELECT database_to_xml(true, false, '')", "every table of the database"),
        ("SELECT database_to_xmlschema(true, false, '')", "every table of the database"),
        ("SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')", "runs SQL given as text"),
        ("SELECT pg_catalog.ts_stat('SELECT search_vector FROM tickets')", "runs SQL given as text"),
        ("SELECT query FROM pg_stat_activity", "pg_stat_activity, which shows other sessions' SQL"),
        ("SELECT * FROM pg_catalog.pg_stat_get_activity(NULL)", "shows other sessions' SQL"),
        ("SELECT query FROM pg_stat_statements", "shows other sessions' SQL"),
        ("SELECT secret FROM installation_secrets", "cursor-signing key"),
        ("SELECT * FROM pg_hba_file_rules", "authentication rules"),
        ("SELECT * FROM pg_file_settings", "configuration files"),
        ("SELECT pg_current_xact_id()", "transaction id"),
    ],
)
def test_dangerous_statements_are_refused_with_the_reason(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeQueryError) as refused:
        check_query(sql)
    assert reason in str(refused.value)


def test_a_refusal_quotes_the_offending_part_of_the_statement() -> None:
    with pytest.raises(UnsafeQueryError) as refused:
        check_query("SELECT id, title FROM tickets WHERE id = 1 AND pg_sleep(5) IS NULL")
    assert "(at: pg_sleep(5) IS NULL)" in str(refused.value)


def test_invalid_sql_is_refused_with_the_parser_message() -> None:
    with pytest.raises(UnsafeQueryError) as refused:
        check_query("SELEC id FROM tickets")
    assert "not valid SQL" in str(refused.value) and "SELEC" in str(refused.value)


def test_oversized_and_nul_statements_are_refused_before_parsing() -> None:
    with pytest.raises(UnsafeQueryError, match="characters long"):
        check_query("SELECT " + "1 + " * MAX_SQL_CHARS + "1")
    with pytest.raises(UnsafeQueryError, match="NUL"):
        check_query("SELECT 1\x00; DELETE FROM tickets")


def test_the_check_reports_placeholders_functions_operators_and_the_order() -> None:
    checked = check_query(
        "SELECT t.id FROM tickets t WHERE t.assignee_id = $2 AND lower(t.title) LIKE $1 "
        "AND t.created_at > now() ORDER BY t.created_at DESC, id;"
    )
    assert checked.param_count == 2
    assert checked.functions == {FunctionName(None, "lower"), FunctionName(None, "now")}
    assert {"=", "~~", ">"} <= checked.operators
    assert checked.order_by == (SortColumn("t", "created_at", True), SortColumn(None, "id", False))
    assert checked.sql.endswith("ORDER BY t.created_at DESC, id")


def test_ts_rewrite_with_three_queries_is_a_plain_function() -> None:
    checked = check_query("SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)")
    assert FunctionName(None, "ts_rewrite") in checked.functions


def test_a_statement_nested_too_deeply_for_a_second_parse_is_refused_with_the_reason() -> None:
    # libpg_query runs out of parser stack on the EXPLAIN around it, not on the query itself
    sql = "SELECT " + "(" * 9990 + "1" + ")" * 9990
    checked = check_query(sql)
    from pglast import ast

    from support_db_mcp.explain.safety import assert_one_statement

    with pytest.raises(UnsafeQueryError, match="nested too deeply"):
        assert_one_statement(f"EXPLAIN (VERBOSE) {checked.sql}", (ast.ExplainStmt,))
