// The store drivers by name.
import type { StoreDriver, StoreName } from '../types.ts'
import { postgresDriver } from './postgres.ts'
import { redisDriver } from './redis.ts'
import { qdrantDriver } from './qdrant.ts'
import { neo4jDriver } from './neo4j.ts'
import { filesGraphragDriver, filesOpenwebuiDriver } from './files.ts'
import { configDriver } from './config.ts'

export const DRIVERS: Record<StoreName, StoreDriver> = {
  postgres: postgresDriver,
  redis: redisDriver,
  qdrant: qdrantDriver,
  neo4j: neo4jDriver,
  'files-openwebui': filesOpenwebuiDriver,
  'files-graphrag': filesGraphragDriver,
  config: configDriver,
}
