"""Shaping explain_query's answer: the plan tree and text, findings with their verified suggestions."""

from __future__ import annotations

from dataclasses import dataclass, field

from support_db_mcp.explain.advice import IndexCandidate
from support_db_mcp.explain.findings import Finding
from support_db_mcp.explain.parameters import BoundStatement
from support_db_mcp.explain.plan import MAX_RENDERED_NODES, Plan, PlanNode
from support_db_mcp.explain.plan_text import render_text
from support_db_mcp.explain.verification import Verification
from support_db_mcp.schemas.explain import (
    ExplainedStatement,
    ExplainFinding,
    ExplainPlanNode,
    ExplainQueryResult,
    IndexSuggestion,
)

MAX_HEADER_SQL = 160  # characters of a statement quoted above its plan


@dataclass
class Explained:
    number: int
    bound: BoundStatement
    plan: Plan
    findings: list[Finding]
    timed_out: bool
    verdict: str = ""  # verdict.py: what the plan did and what the findings make of it


@dataclass
class Run:
    """What one call gathered: statements explained, notes, the verification of each suggestion."""

    explained: list[Explained] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verifications: dict[IndexCandidate, Verification] = field(default_factory=dict)


def _node_out(node: PlanNode, budget: list[int]) -> ExplainPlanNode:
    budget[0] -= 1
    conditions = {
        key: value
        for key in ("Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter")
        if isinstance(value := node.raw.get(key), str)
    }
    children = [_node_out(child, budget) for child in node.children if budget[0] > 0]
    analyzed = node.analyzed
    return ExplainPlanNode(
        node=node.path,
        node_type=node.node_type,
        label=node.label,
        relation=f"{node.schema}.{node.relation}" if node.relation and node.schema else node.relation,
        alias=node.alias,
        index=node.index_name,
        estimated_rows=node.plan_rows,
        startup_cost=node.startup_cost,
        total_cost=node.total_cost,
        actual_rows=node.total_rows if analyzed else None,
        loops=node.loops if analyzed else None,
        time_ms=round(node.total_time_ms, 3) if node.total_time_ms is not None else None,
        shared_hit_blocks=node.shared_hit,
        shared_read_blocks=node.shared_read,
        rows_removed_by_filter=node.total_removed_by_filter if analyzed and node.filter else None,
        rows_removed_by_join_filter=node.total_removed_by_join_filter
        if analyzed and node.join_filter
        else None,
        conditions=conditions,
        sort_key=node.sort_key,
        sort_method=node.sort_method,
        spilled_to_disk=node.spilled,
        children=children,
    )


def _ms(value: float) -> str:
    return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"


def _suggestion(candidate: IndexCandidate, verification: Verification) -> IndexSuggestion:
    return IndexSuggestion(
        create_index=candidate.definition(candidate.suggested_name(), concurrently=True) + ";",
        verified=verification.verified,
        method=verification.method,
        cost_before=round(verification.cost_before, 2),
        cost_after=round(verification.cost_after, 2) if verification.cost_after is not None else None,
        time_before_ms=verification.time_before_ms,
        time_after_ms=verification.time_after_ms,
        used_by_planner=verification.used_by_planner,
        note=verification.note,
    )


def _finding_out(finding: Finding, number: int, run: Run) -> ExplainFinding:
    message = finding.message
    suggestion = None
    candidate = finding.candidate
    if candidate is not None:
        verification = run.verifications.get(candidate)
        if verification is None or not verification.rejected:
            suggestion = _suggestion(
                candidate, verification or Verification("not_verified", 0.0, note="not tried")
            )
            if verification is not None and verification.verified and verification.cost_after is not None:
                message += (
                    f" An index on {candidate.describe()} lets the planner skip that work: estimated cost "
                    f"{verification.cost_before:,.0f} -> {verification.cost_after:,.0f}"
                )
                if verification.time_after_ms is not None and verification.time_before_ms is not None:
                    message += (
                        f", run time {_ms(verification.time_before_ms)} -> {_ms(verification.time_after_ms)}"
                    )
                message += "."
        else:
            after = f"{verification.cost_after:,.0f}" if verification.cost_after is not None else "?"
            message += (
                f" An index on {candidate.describe()} was tried and the planner would not use it "
                f"(cost {verification.cost_before:,.0f} -> {after}), so none is suggested."
            )
    return ExplainFinding(
        severity=finding.severity,
        kind=finding.kind,
        statement=number,
        node=f"{finding.node.path} {finding.node.label}",
        message=message,
        evidence=finding.evidence,
        advice=finding.advice,
        suggestion=suggestion,
    )


def result(run: Run, *, analyze: bool, sql_statements: int, elapsed_ms: float) -> ExplainQueryResult:
    texts: list[str] = []
    plans: list[ExplainedStatement] = []
    findings: list[ExplainFinding] = []
    many = len(run.explained) > 1
    for explained in run.explained:
        plan = explained.plan
        body = render_text(plan)
        header = []
        if many:
            first_line = " ".join(explained.bound.checked.sql.split())
            header.append(
                f"Statement {explained.number} of {len(run.explained)}: "
                f"{first_line[:MAX_HEADER_SQL]}{'...' if len(first_line) > MAX_HEADER_SQL else ''}"
            )
        if explained.timed_out:
            header.append("(ANALYZE timed out: estimated plan)")
        footer = [f"Verdict: {explained.verdict}"] if explained.verdict else []
        texts.append("\n".join([*header, body, *footer]))
        total_nodes = sum(1 for _ in plan.nodes())
        budget = [MAX_RENDERED_NODES]
        plans.append(
            ExplainedStatement(
                statement=explained.number,
                sql=explained.bound.checked.sql,
                parameters=explained.bound.parameters,
                analyzed=plan.analyzed,
                total_cost=plan.total_cost,
                planning_ms=plan.planning_ms,
                execution_ms=plan.execution_ms,
                plan=_node_out(plan.root, budget),
                nodes_cut=max(total_nodes - MAX_RENDERED_NODES, 0),
                verdict=explained.verdict,
            )
        )
        findings.extend(_finding_out(finding, explained.number, run) for finding in explained.findings)
    order = {"critical": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda finding: order[finding.severity])
    notes = list(run.notes)
    if not analyze:
        notes.append("analyze=false: estimated plan only; the query was not run")
    return ExplainQueryResult(
        plan_text="\n\n".join(texts),
        plan=plans,
        findings=findings,
        notes=notes,
        sql_statements=sql_statements,
        elapsed_ms=round(elapsed_ms, 1),
    )
