// The one exec path runs commands through `bash -c`: bash must not take the kit for a remote shell
// daemon and read the user's ~/.bashrc (a `pyenv init` there made every command wait up to a minute).
import { describe, it, expect, afterAll } from 'vitest'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exec } from '../../scripts/lib/core/exec.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

const home = tmpDir('owp-exec-home-')
afterAll(() => home.remove())

describe('commands run without the user\'s shell startup files', () => {
  it('~/.bashrc is not read, with SHLVL unset or 0 (as under make) and with a terminal-less stdin', async () => {
    const marker = join(home.path, 'bashrc-was-read')
    writeFileSync(join(home.path, '.bashrc'), `touch ${marker}\n`)
    for (const SHLVL of [undefined, '0']) {
      const env: Record<string, string> = { HOME: home.path, PATH: process.env.PATH ?? '' }
      if (SHLVL !== undefined) env.SHLVL = SHLVL
      const r = await exec(testCtx({ env }), ['echo', 'ok'], { input: 'x' })
      expect(r.stdout.trim()).toBe('ok')
      expect(existsSync(marker), `SHLVL=${SHLVL}: bash read ~/.bashrc`).toBe(false)
    }
  })
})
