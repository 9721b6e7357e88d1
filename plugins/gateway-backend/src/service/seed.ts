import type { LoggerService } from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { isError } from '@backstage/errors';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { GatewayStore } from '../database/GatewayStore';
import { productIdProblem, validateProductSpec } from './productSchema';

/**
 * Example products (`gateway.products` in config), each a YAML document
 * `{ id, entityRef, spec }`: created at start when missing, never
 * overwritten, so what teams changed since survives a restart; nor created
 * again once its owners removed it (DELETE /products/:id). Held to the
 * PUT's rules but one: the API is not looked up in the catalog, which at a
 * first start is still reading its locations.
 */
export async function seedProducts(options: { store: GatewayStore; files: string[]; allowedHosts: string[]; logger: LoggerService; now?: Date }) {
  const { store, files, allowedHosts, logger } = options;
  for (const file of files) {
    const absolute = path.resolve(file);
    if (!fs.existsSync(absolute)) {
      logger.warn(`Gateway product file ${file} does not exist; skipped`);
      continue;
    }
    for (const doc of parseAllDocuments(fs.readFileSync(absolute, 'utf8'))) {
      // A document the parser found wrong (a key given twice, bad indentation) still reads as something, not as its author
      // meant it. The first line of the message says what and where; the rest is the source around it.
      if (doc.errors.length > 0) {
        logger.error(`${file}: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}; skipped`);
        continue;
      }
      const product = doc.toJS() as { id?: string; entityRef?: string; spec?: unknown } | null;
      if (!product?.id || !product.entityRef) {
        logger.error(`${file}: a product needs id and entityRef; skipped`);
        continue;
      }
      const idProblem = productIdProblem(String(product.id));
      if (idProblem) {
        logger.error(`${file}: ${idProblem}; skipped`);
        continue;
      }
      // Stored as the catalog writes it, as the API's PUT stores it: the API's page and its usage look it up so.
      const apiRef = apiRefOf(product.entityRef);
      if (!apiRef) {
        logger.error(`${file}: product ${product.id}: entityRef ${JSON.stringify(product.entityRef)} is not an API's reference, such as api:default/llm-chat; skipped`);
        continue;
      }
      const existing = await store.getProduct(product.id);
      if (existing) {
        // Never overwritten; but a file that now names another API says something the gateway does not do.
        if (existing.entityRef !== apiRef) logger.warn(`${file}: gateway product ${product.id} is ${existing.entityRef}'s, not ${apiRef}'s as the file says; left as it is`);
        continue;
      }
      const removal = await store.lastRemoval(product.id);
      if (removal) {
        const advice = removal.entityRef && removal.entityRef !== apiRef
          ? `the id was ${removal.entityRef}'s, and its usage is kept under it: give ${apiRef}'s product another id`
          : 'take it out of the file, or create it through the API';
        logger.info(`${file}: gateway product ${product.id} was removed at ${removal.at}; not seeded again (${advice})`);
        continue;
      }
      // One product per API, as the PUT says it: a standing fact of the config, not a race.
      const serving = await store.getProductByEntity(apiRef);
      if (serving) {
        logger.warn(`${file}: gateway product ${product.id} not seeded: ${apiRef} already has the gateway product ${serving.id}`);
        continue;
      }
      const validated = validateProductSpec(product.spec, allowedHosts);
      if (!validated.ok) {
        logger.error(`${file}: product ${product.id} is invalid: ${validated.message}`);
        continue;
      }
      const actor = 'quarterdeck:seed';
      const id = product.id;
      try {
        await store.putProduct({
          id, entityRef: apiRef, spec: validated.spec, actor, now: options.now ?? new Date(),
          expect: { exists: false },
          audit: () => [{ actor, action: 'product.created', entityRef: apiRef, target: id, reason: `seeded from ${file}` }],
        });
      } catch (error) {
        // Another replica starting at the same time seeded it first, or another product already serves its API.
        if (!isError(error) || error.name !== 'ConflictError') throw error;
        logger.warn(`${file}: gateway product ${product.id} not seeded: ${error.message}`);
        continue;
      }
      logger.info(`Seeded gateway product ${product.id} from ${file}`);
    }
  }
}

/** An API's reference as the catalog writes it (`llm-chat`, `api:llm-chat` → `api:default/llm-chat`), or undefined for anything else. */
function apiRefOf(ref: unknown): string | undefined {
  if (typeof ref !== 'string') return undefined;
  try {
    // As the PUT reads it: a bare name is an API's in the default namespace.
    const parsed = parseEntityRef(ref, { defaultKind: 'api', defaultNamespace: 'default' });
    return parsed.kind.toLowerCase() === 'api' ? stringifyEntityRef(parsed) : undefined;
  } catch {
    return undefined;
  }
}
