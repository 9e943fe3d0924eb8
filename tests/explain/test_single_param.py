"""explain_query takes one value for `params` as `[value]`, as a command line sends it (`params=7`)."""

from __future__ import annotations

from mcp import Client

SQL = "SELECT id FROM tickets WHERE assignee_id = $1 LIMIT 5"


async def test_a_single_param_is_the_one_value_of_dollar_one(explain_client: Client) -> None:
    async with explain_client:
        single = await explain_client.call_tool("explain_query", {"sql": SQL, "params": 7, "analyze": False})
        listed = await explain_client.call_tool(
            "explain_query", {"sql": SQL, "params": [7], "analyze": False}
        )

    assert single.is_error is False, single.content
    assert single.structured_content is not None and listed.structured_content is not None
    assert single.structured_content["plan"][0]["parameters"] == [7]
    assert single.structured_content["plan_text"] == listed.structured_content["plan_text"]
