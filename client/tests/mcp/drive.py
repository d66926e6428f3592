"""Drive `cpg mcp` with the official MCP Python SDK, as an agent would.

Usage: python drive.py CPG_BINARY CALLS_JSON [cpg mcp arguments...]

CALLS_JSON is a list of [tool, arguments] pairs. Prints one JSON object:
the server's name, the tools it lists (name, input schema, read-only hint)
and, per call, whether it was an error, its text, and its structured content.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    cpg, calls = sys.argv[1], json.loads(sys.argv[2])
    params = StdioServerParameters(command=cpg, args=["mcp", *sys.argv[3:]])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            listed = await session.list_tools()
            out = {
                "server": init.server_info.name,
                "tools": [
                    {
                        "name": t.name,
                        "schema": t.input_schema,
                        "read_only": bool(t.annotations and t.annotations.read_only_hint),
                    }
                    for t in listed.tools
                ],
                "calls": [],
            }
            for name, arguments in calls:
                r = await session.call_tool(name, arguments)
                text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
                out["calls"].append(
                    {
                        "tool": name,
                        "error": bool(r.is_error),
                        "text": text,
                        "structured": r.structured_content,
                    }
                )
    print(json.dumps(out))


asyncio.run(main())
