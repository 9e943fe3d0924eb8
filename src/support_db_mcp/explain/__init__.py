"""explain_query: safe real query plans, what is slow in them, and the verified index that fixes it.

safety.py parses with PostgreSQL's own parser; runner.py runs EXPLAIN read-only, rolled back and
as a read-only role; plan.py is the typed plan tree; findings.py diagnoses it; advice.py verifies
each index suggestion; service.py puts them together for the tool.
"""

from support_db_mcp.explain.runner import EXPLAIN_ROLE, ExplainUnavailableError
from support_db_mcp.explain.safety import UnsafeQueryError
from support_db_mcp.explain.service import Explainer

__all__ = ["EXPLAIN_ROLE", "ExplainUnavailableError", "Explainer", "UnsafeQueryError"]
