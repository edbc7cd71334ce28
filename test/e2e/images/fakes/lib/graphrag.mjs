// FAKE GraphRAG processor API (port 8010): /health, /metrics and a query endpoint.
import { startApi } from './api.mjs'

export function start(argv, env = process.env) {
  return startApi('graphrag-processor', {
    port: Number(env.PORT ?? 8010), env,
    routes: [
      { method: 'POST', path: '/api/v1/query', answer: (b) => ({ query: b.query ?? '', answer: 'fake graph answer', sources: [], fake: true }) },
      { method: 'POST', path: '/api/v1/index', answer: () => ({ task_id: `fake-${Date.now()}`, status: 'queued' }) },
    ],
  })
}
