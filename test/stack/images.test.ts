// How the custom images are built: the Dockerfiles' named contexts, the sources checked first.
import { describe, it, expect, afterAll } from 'vitest'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { imageBuilds, buildArgv, IMAGE_SPECS } from '../../scripts/lib/stack/compose-images.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-images-')
afterAll(() => tmp.remove())
const repo = (name: string, file = 'pyproject.toml') => {
  const dir = join(tmp.path, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, file), '[project]\nname = "x"\n')
  return dir
}

describe('custom image builds', () => {
  it('build each image from the repository root, the service source as a named context', () => {
    const env = { IMAGE_REGISTRY: 'registry.example.test/owp/', IMAGE_TAG: '1.4.0', GRAPHRAG_SRC: repo('graphrag'), MCP_SRC: repo('mcp', 'setup.py') }
    const builds = imageBuilds(env, { revision: 'abc123', created: '2026-01-01T00:00:00Z', source: 'https://git.example.test/kit' })
    expect(builds.map((b) => b.ref)).toEqual(['registry.example.test/owp/graphrag-processor:1.4.0', 'registry.example.test/owp/mcp-server:1.4.0', 'registry.example.test/owp/ops:1.4.0', 'registry.example.test/owp/postgres:1.4.0'])
    expect(buildArgv(builds[0]!)).toEqual([
      'docker', 'build', '--file', join(ROOT, 'docker', 'Dockerfile.graphrag'),
      '--build-context', `graphrag-src=${env.GRAPHRAG_SRC}`,
      '--build-arg', 'VERSION=1.4.0', '--build-arg', 'REVISION=abc123', '--build-arg', 'CREATED=2026-01-01T00:00:00Z', '--build-arg', 'SOURCE=https://git.example.test/kit',
      '--tag', 'registry.example.test/owp/graphrag-processor:1.4.0', ROOT,
    ])
    expect(buildArgv(builds[2]!)).not.toContain('--build-context')
  })

  it('names every missing or wrong source before docker runs', () => {
    const notAProject = join(tmp.path, 'empty')
    mkdirSync(notAProject, { recursive: true })
    expect(() => imageBuilds({ MCP_SRC: notAProject })).toThrow(/GRAPHRAG_SRC is not set[\s\S]*MCP_SRC=.*has no pyproject\.toml or setup\.py: is it the mcp-server repository\?/)
    expect(() => imageBuilds({ GRAPHRAG_SRC: '../no-such-checkout' }, { only: ['graphrag-processor'] })).toThrow(/GRAPHRAG_SRC=\.\.\/no-such-checkout: .* does not exist/)
    expect(imageBuilds({}, { only: ['ops'] })).toHaveLength(1)
  })

  it('each Dockerfile declares the named context the build passes, and reports its absence in words', () => {
    for (const spec of Object.values(IMAGE_SPECS)) {
      const text = readFileSync(join(ROOT, spec.dockerfile), 'utf8')
      if (!spec.source) continue
      expect(text).toContain(`FROM scratch AS ${spec.source.context}`)
      expect(text).toContain(`COPY --from=${spec.source.context} / /src/`)
      expect(text).toContain(`--build-context ${spec.source.context}="$${spec.source.variable}"`)
    }
  })
})
