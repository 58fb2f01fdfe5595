"""The MCP server for coding agents: atdata's appview queries and sample previews as typed tools."""
