"""Diagnosing a plan: every rule on every node, plus the timeout finding, most severe first."""

from __future__ import annotations

from support_db_mcp.explain import join_rules, scan_rules
from support_db_mcp.explain.findings import Context, Finding
from support_db_mcp.explain.plan import Plan

_RULES = (*scan_rules.RULES, *join_rules.RULES)
_ORDER = {"critical": 0, "warning": 1, "info": 2}


def diagnose(plan: Plan, context: Context) -> list[Finding]:
    """Every finding of the plan, most severe first (then in plan order)."""
    findings: list[Finding] = []
    if context.timed_out:
        findings.append(
            Finding(
                "critical",
                "timeout",
                plan.root,
                f"The query did not finish within the {context.timeout_ms:,} ms explain_query had for it, so "
                "it was cancelled and this is the estimated plan (its real rows and times are unknown).",
                {"timeout_ms": context.timeout_ms or 0, "estimated_total_cost": round(plan.total_cost, 2)},
                advice="Look for the large estimated row counts and sequential scans below.",
            )
        )
    for node in plan.nodes():
        for rule in _RULES:
            findings.extend(rule(node, context, plan))
    findings.sort(key=lambda finding: _ORDER[finding.severity])
    return findings
