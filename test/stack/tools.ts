// Real tools the compose suites drive: a missing one fails loudly with the install hint.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import dotenv from 'dotenv'

export const FIXTURES = join(import.meta.dirname, 'fixtures')
export const TEST_ENV_FILE = join(FIXTURES, 'test.env')
export const testEnv = (): Record<string, string> => dotenv.parse(readFileSync(TEST_ENV_FILE))

const HINTS: Record<string, string> = {
  'docker-compose': 'make setup (Debian package docker-compose: apt-get install docker-compose)',
  nginx: 'make setup (Debian package nginx: apt-get install nginx)',
  envsubst: 'make setup (Debian package gettext-base: apt-get install gettext-base)',
  openssl: 'make setup (Debian package openssl: apt-get install openssl)',
}

/** The absolute path of a tool, or an error that says how to install it. */
export function requireTool(name: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v "$0"`, name], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`${name} is not installed: ${HINTS[name] ?? 'run make setup'}`)
  }
}
