// The Dockerfile checker on the kit's images and on a Dockerfile that breaks every rule.
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { lintDockerfile, lintDockerfileFile, parseDockerfile, isSecretName } from '../../scripts/lib/stack/dockerfile-lint.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { FIXTURES } from './tools.ts'

const IMAGES = ['Dockerfile.graphrag', 'Dockerfile.mcp', 'Dockerfile.ops', 'Dockerfile.postgres']

describe('dockerfile-lint', () => {
  it.each(IMAGES)('%s keeps every rule', (file) => {
    expect(lintDockerfileFile(join(ROOT, 'docker', file))).toEqual([])
  })

  it('rejects the broken fixture: each rule, with its line', () => {
    const problems = lintDockerfileFile(join(FIXTURES, 'Dockerfile.broken')).map((p) => `${p.line} ${p.rule}: ${p.message}`)
    expect(problems).toEqual([
      '3 from-pinned: FROM python:latest is not pinned to a version (tag "latest")',
      expect.stringMatching(/^4 secret: ARG GITHUB_TOKEN: secrets in ARG stay in the image history/),
      expect.stringMatching(/^5 secret: ENV DB_PASSWORD: /),
      expect.stringMatching(/^7 add-url: ADD https:\/\/example\.com\/tool\.tar\.gz fetches from the network/),
      '10 from-pinned: FROM node has no tag: pin a version',
      expect.stringMatching(/^10 oci-labels: the final stage lacks OCI labels/),
      '11 secret: ENV AWS_KEY_FOR_UPLOADS holds what looks like a credential',
      '13 user: USER root is root',
      '14 healthcheck: HEALTHCHECK NONE disables the health check',
    ])
  })

  it('notices a final stage without USER or HEALTHCHECK, and a base pinned through an ARG without default', () => {
    const problems = lintDockerfile('ARG IMG\nFROM $IMG\nRUN true\n').map((p) => p.rule)
    expect(problems).toEqual(['from-pinned', 'user', 'healthcheck', 'oci-labels'])
  })

  it('parses continuations, comments inside them, heredocs and multi-stage names', () => {
    const ins = parseDockerfile('FROM a:1.2 AS one\nRUN echo a \\\n  # note\n  && echo b\nRUN <<EOF\nset -e\necho c\nEOF\nCOPY --from=one /x /y\n')
    expect(ins.map((i) => [i.keyword, i.line])).toEqual([['FROM', 1], ['RUN', 2], ['RUN', 5], ['COPY', 9]])
    expect(ins[1]!.args).toBe('echo a  && echo b')
    expect(ins[2]!.args).toContain('echo c')
  })

  it('tells secret names from harmless ones', () => {
    for (const n of ['DB_PASSWORD', 'API_KEY', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'PRIVATE_KEY', 'REDIS_PASS']) expect(isSecretName(n), n).toBe(true)
    for (const n of ['PASSWORD_FILE', 'TOKENIZERS_PARALLELISM', 'PIP_NO_CACHE_DIR', 'KEYBOARD', 'BYPASS_CACHE']) expect(isSecretName(n), n).toBe(false)
  })

  it('every image installs only pinned requirements (==)', () => {
    for (const f of ['graphrag.txt', 'mcp.txt']) {
      const lines = readFileSync(join(ROOT, 'requirements', f), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
      expect(lines.length).toBeGreaterThan(5)
      for (const l of lines) expect(l, `${f}: ${l}`).toMatch(/^[A-Za-z0-9._-]+(\[[a-z0-9,_-]+\])?==[0-9][A-Za-z0-9.]*$/)
    }
  })

  it('builds the custom images from the pinned requirements and the source named by a build context', () => {
    const graphrag = readFileSync(join(ROOT, 'docker', 'Dockerfile.graphrag'), 'utf8')
    expect(graphrag).toContain('COPY requirements/graphrag.txt')
    expect(graphrag).toContain('FROM scratch AS graphrag-src')
    expect(graphrag).toMatch(/GRAPHRAG_SRC/)
    expect(readFileSync(join(ROOT, 'docker', 'Dockerfile.mcp'), 'utf8')).toContain('FROM scratch AS mcp-src')
  })
})
