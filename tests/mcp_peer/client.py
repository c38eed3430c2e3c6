"""The MCP tests' independent client: the official MCP Python SDK (PyPI `mcp`) runs a plan against
Latchkey's MCP server and prints what it saw as one JSON document.

    client.py PLAN_JSON

PLAN: {"transport": "http", "url": "http://…/mcp", "bearer": "…"}
   or {"transport": "stdio", "command": "…/latchkey", "args": ["mcp"], "env": {…}},
  with "steps": [{"list_tools": {}}, {"call": {"name": "…", "arguments": {…}}},
                 {"list_resources": {}}, {"read": {"uri": "…"}}]

Prints {"protocol_version", "server", "results": [one per step]}. A tool error is a result with
"isError": true; an MCP (JSON-RPC) error is {"error": "…"}.
"""

import asyncio
import json
import sys

import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def text_of(contents):
    return [getattr(content, "text", None) for content in contents]


async def run_step(client, kind, args):
    if kind == "list_tools":
        listed = await client.list_tools()
        return {
            "tools": [
                {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
                for tool in listed.tools
            ]
        }
    if kind == "call":
        result = await client.call_tool(args["name"], args.get("arguments", {}))
        return {"isError": bool(result.is_error), "structured": result.structured_content, "text": text_of(result.content)}
    if kind == "list_resources":
        listed = await client.list_resources()
        return {"resources": [{"uri": str(resource.uri), "name": resource.name} for resource in listed.resources]}
    if kind == "read":
        read = await client.read_resource(args["uri"])
        return {"contents": text_of(read.contents)}
    raise ValueError(f"unknown step {kind}")


async def main(plan):
    if plan["transport"] == "http":
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {plan['bearer']}"}, timeout=30)
        server = streamable_http_client(plan["url"], http_client=http)
    else:
        server = StdioServerParameters(command=plan["command"], args=plan["args"], env=plan["env"])
    results = []
    async with Client(server, mode=plan.get("mode", "auto")) as client:
        for step in plan["steps"]:
            ((kind, args),) = step.items()
            try:
                results.append(await run_step(client, kind, args))
            except Exception as error:  # an MCP error answered instead of a result
                results.append({"error": str(error), "errorType": type(error).__name__})
        info = client.server_info
        report = {
            "protocol_version": client.protocol_version,
            "server": info.name if info is not None else None,
            "results": results,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
