import type { LoggerService } from '@backstage/backend-plugin-api';
import express from 'express';
import Router from 'express-promise-router';
import type { Knex } from 'knex';

export interface RouterOptions {
  logger: LoggerService;
  db: Knex;
}

export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { db } = options;
  const router = Router();
  router.use(express.json());

  // Open to unauthenticated callers (see plugin.ts) so probes can use it; it
  // tells only that the plugin is up and its database answers.
  router.get('/health', async (_req, res) => {
    await db.raw('select 1');
    res.json({ status: 'ok' });
  });

  return router;
}
