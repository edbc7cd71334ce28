// FAKE MCP server (port 8020): /health, /metrics and the tools list.
import { startApi } from './api.mjs'

export function start(argv, env = process.env) {
  return startApi('mcp-server', {
    port: Number(env.PORT ?? 8020), env,
    routes: [
      { method: 'GET', path: '/tools', answer: () => ({ tools: [{ name: 'graph_search', description: 'fake tool' }] }) },
      { method: 'POST', path: '/mcp', answer: (b) => ({ jsonrpc: '2.0', id: b.id ?? null, result: { tools: [{ name: 'graph_search' }] } }) },
    ],
  })
}
