"""explain_query: safe real query plans, what is slow in them, and the verified index that fixes it.

safety.py (with refusals.py) parses with PostgreSQL's own parser; connection.py says who may log in
and how long a call has; transactions.py, volatility.py and running.py run EXPLAIN read-only,
rolled back, with bind parameters (parameters.py); plan.py is the typed plan tree; catalog.py
reads table facts; findings.py, scan_rules.py, join_rules.py and diagnosis.py diagnose; advice.py
proposes indexes and verification.py with suggestions.py tries them; answer.py shapes the result;
service.py (the Explainer) puts them together for the tool and the prompts.
"""

from support_db_mcp.explain.connection import EXPLAIN_ROLE
from support_db_mcp.explain.running import ExplainUnavailableError
from support_db_mcp.explain.safety import UnsafeQueryError
from support_db_mcp.explain.service import Explainer

__all__ = ["EXPLAIN_ROLE", "ExplainUnavailableError", "Explainer", "UnsafeQueryError"]
