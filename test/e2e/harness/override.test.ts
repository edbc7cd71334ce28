// The e2e override replaces images and nothing else users run (no engine needed for this file).
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { COMPOSE_FILE } from '../../../scripts/lib/core/paths.ts'
import { overrideProblems, runsInE2E, HARDWARE_EXCEPTIONS } from './override.ts'
import { E2E_OVERRIDE } from './stack.ts'
import { STAND_INS, serviceImages } from './images.ts'

// compose's merge tags (!reset, !override) are plain values to this check
const load = (file: string) => parse(readFileSync(file, 'utf8'), { logLevel: 'error' })
const prod = load(COMPOSE_FILE)

describe('test/e2e/compose.e2e.yml', () => {
  it('replaces every image of the compose file by a stand-in, and changes nothing else but the named hardware exceptions', () => {
    expect(overrideProblems(prod, load(E2E_OVERRIDE))).toEqual([])
    expect(Object.keys(HARDWARE_EXCEPTIONS)).toEqual(['lightllm'])
  })

  it('rejects an override that changes a healthcheck, uses an image that is no stand-in or adds a service', () => {
    const problems = overrideProblems(prod, load(join(import.meta.dirname, '..', 'fixtures', 'override-broken.yml')))
    expect(problems).toEqual(expect.arrayContaining([
      'extra: not a service of the compose file',
      'openwebui: changes healthcheck.test; the override may only replace images',
      'nginx: nginx:1.28 is not a stand-in built by test/e2e/harness/images.ts',
      'postgres: no stand-in image (every image of the compose file must be replaced)',
    ]))
  })

  it('names every fake as a fake and maps each compose service to one stand-in', () => {
    for (const img of STAND_INS) if (img.fake && img.services.length) expect(img.ref).toMatch(/^owp-e2e\/fake-/)
    const map = serviceImages()
    expect(Object.keys(map).sort()).toEqual(Object.keys(prod.services).filter((n) => runsInE2E(prod, n)).sort())
  })
})
