// What a benchmark of the real thing needs first: the e2e engine (held under the suite's lock, so a
// bench and the suite never share it), a .env and TLS pair for the stack, and how to give it all back.
import { createContext, type Ctx } from '../../../scripts/lib/core/context.ts'
import { acquireLock } from '../../../scripts/lib/core/lock.ts'
import { runScript } from '../../helpers/run-script.ts'
import { freePort } from '../../helpers/net.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { engineLayout, stopEngine } from './engine.ts'
import { prepareE2E, type Prepared } from './prepare.ts'
import { stackPaths, e2eEnv, writeEnvFile, removeProject, E2E_DOMAIN, type StackPaths } from './stack.ts'

export interface BenchStack { ctx: Ctx; prepared: Prepared; paths: StackPaths; done(): Promise<void> }

export async function benchStack(name: string): Promise<BenchStack> {
  const ctx = createContext({ verbose: false })
  const layout = engineLayout()
  const release = acquireLock(ctx, layout.lockFile, `${name} bench`)
  const prepared = await prepareE2E(ctx, { layout })
  const tmp = tmpDir(`owp-bench-${name}-`)
  const paths = stackPaths(tmp.path)
  writeEnvFile(paths.envFile, e2eEnv(paths, { httpPort: await freePort(), httpsPort: await freePort() }))
  const tls = await runScript('scripts/tls-selfsigned.ts', ['--domain', E2E_DOMAIN, '--dir', paths.certDir, '--env-file', paths.envFile])
  if (tls.code !== 0) throw new Error(tls.stderr)
  return {
    ctx, prepared, paths,
    async done() {
      await removeProject(ctx, prepared.env).catch(() => {})
      await stopEngine(ctx, layout, prepared.engine)
      release()
      tmp.remove()
    },
  }
}
