// Where things live in the repository, independent of the caller's working directory.
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const TOOLS_BIN = join(ROOT, '.tools', 'bin')
export const CONFIG_DIR = join(ROOT, 'config')
export const ENV_SCHEMA = join(CONFIG_DIR, 'env.schema.json')
export const ENV_EXAMPLE = join(ROOT, '.env.example')
export const CHART_DIR = join(ROOT, 'helm', 'openwebui-platform')
export const COMPOSE_FILE = join(ROOT, 'compose', 'docker-compose.prod.yml')

/** PATH with the kit's own tools (.tools/bin: helm v4 as `helm`, v3 as `helm3`) first. */
export function pathWithTools(path = process.env.PATH ?? ''): string {
  return path.split(':').includes(TOOLS_BIN) ? path : `${TOOLS_BIN}:${path}`
}
