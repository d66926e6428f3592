"""Drive `cpg mcp` with the official MCP Python SDK, as an agent would.

Usage: python drive.py CPG_BINARY CALLS_JSON [cpg mcp arguments...]
       python drive.py - CALLS_JSON --http URL

The second form talks to a coordinator's `/mcp` endpoint (streamable
HTTP) instead of starting `cpg mcp`.

CALLS_JSON is a list of [tool, arguments] pairs. Prints one JSON object:
the server's name, the tools it lists (name, input schema, read-only hint)
and, per call, whether it was an error, its text, and its structured content.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def transport():
    if sys.argv[3:4] == ["--http"]:
        return streamable_http_client(sys.argv[4])
    params = StdioServerParameters(command=sys.argv[1], args=["mcp", *sys.argv[3:]])
    return stdio_client(params)


async def main() -> None:
    calls = json.loads(sys.argv[2])
    async with transport() as streams:
        read, write = streams[0], streams[1]
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
