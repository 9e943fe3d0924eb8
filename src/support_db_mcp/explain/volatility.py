"""Layer 3 of explain_query's safety: before ANALYZE runs a query, pg_proc says what it calls.

Every function and operator the parser saw is looked up in the catalog, in the schema the query
names or the one the search path finds. A VOLATILE one (it may change data or reach outside the
database) is refused, and so are the few STABLE ones that still have a side effect (assigning a
transaction id): the parser refuses those by name too, this check by what the catalog resolves.
`analyze=false` only plans, and runs none of them.
"""

from __future__ import annotations

from support_db_mcp.explain.safety import CheckedQuery, UnsafeQueryError
from support_db_mcp.explain.transactions import Transaction

# Volatile by declaration but without side effects worth refusing.
_HARMLESS_VOLATILE = frozenset(
    {"random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "clock_timestamp", "timeofday"}
)
# Declared STABLE, yet calling them assigns a transaction id, which no rollback gives back.
_STABLE_WITH_SIDE_EFFECTS = frozenset({"txid_current", "pg_current_xact_id"})

_FUNCTIONS = (
    "SELECT n.nspname, p.proname, p.provolatile::text, pg_function_is_visible(p.oid) "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY(:names)"
)
_OPERATORS = (
    "SELECT o.oprname, n.nspname, p.proname FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE o.oprname = ANY(:operators) AND pg_operator_is_visible(o.oid) AND p.provolatile = 'v'"
)


def _refused(schema: str, name: str, volatility: str) -> str | None:
    if schema == "pg_catalog" and name in _STABLE_WITH_SIDE_EFFECTS:
        return "which assigns a transaction id although it is declared STABLE"
    if volatility == "v" and not (schema == "pg_catalog" and name in _HARMLESS_VOLATILE):
        return "which is declared VOLATILE (it may change data or reach outside the database)"
    return None


async def refuse_volatile_functions(transaction: Transaction, checked: CheckedQuery) -> None:
    """Raise UnsafeQueryError before ANALYZE when the query calls something with side effects."""
    names = sorted({function.name for function in checked.functions})
    if names:
        rows = (await transaction.query(_FUNCTIONS, {"names": names})).all()
        for function in sorted(checked.functions, key=str):
            for schema, proname, volatility, visible in rows:
                if proname != function.name or (
                    schema != function.schema if function.schema else not visible
                ):
                    continue
                reason = _refused(schema, proname, volatility)
                if reason is not None:
                    raise UnsafeQueryError(
                        f"explain_query refused to run the statement with ANALYZE: it calls "
                        f"{schema}.{proname}(), {reason}. Use analyze=false for the estimated plan, "
                        "which runs nothing"
                    )
    operators = sorted(checked.operators)
    if operators:
        for operator, schema, proname in (
            await transaction.query(_OPERATORS, {"operators": operators})
        ).all():
            raise UnsafeQueryError(
                f"explain_query refused to run the statement with ANALYZE: its operator {operator} calls "
                f"{schema}.{proname}(), which is declared VOLATILE. Use analyze=false for the estimated plan"
            )
