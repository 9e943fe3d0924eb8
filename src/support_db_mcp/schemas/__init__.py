"""The MCP-facing contract: pydantic inputs and outputs of the tools.

base.py: strict inputs and plain-sentence errors; fields.py: reusable input types; patterns.py:
the regular expressions they publish and match with; tickets.py and explain.py: each tool's
arguments and results; json_schema.py: the schema clients are shown; contract.py: the server's
check of arguments against that schema.
"""
