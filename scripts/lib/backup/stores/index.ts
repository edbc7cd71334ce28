// The store drivers by name.
import type { StoreDriver, StoreName } from '../types.ts'
import { postgresDriver } from './postgres.ts'
import { redisDriver } from './redis.ts'
import { qdrantDriver } from './qdrant.ts'
import { neo4jDriver } from './neo4j.ts'

export const DRIVERS: Record<StoreName, StoreDriver> = {
  postgres: postgresDriver,
  redis: redisDriver,
  qdrant: qdrantDriver,
  neo4j: neo4jDriver,
}
