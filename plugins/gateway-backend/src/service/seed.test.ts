import { TestDatabases, mockServices } from '@backstage/backend-test-utils';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { seedProducts } from './seed';
import { migratedStore, minimalSpec } from '../__testUtils__/store';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

describe('seedProducts', () => {
  it('creates an example product once, keeps what its owners changed, and does not bring it back after they removed it', async () => {
    const { store } = await migratedStore(databases, 'SQLITE_3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-seed-'));
    const file = path.join(dir, 'products.yaml');
    fs.writeFileSync(file, stringify({ id: 'p', entityRef: 'api:default/p', spec: minimalSpec }));
    const logger = mockServices.logger.mock();
    const seed = () => seedProducts({ store, files: [file], allowedHosts: ['127.0.0.1'], logger, now: new Date('2026-12-06T10:00:00Z') });
    try {
      await seed();
      expect((await store.getProduct('p'))?.updatedBy).toBe('quarterdeck:seed');

      const edited = { ...minimalSpec, plans: [{ name: 'standard', requestsPerMinute: 50 }] };
      const actor = 'user:default/carol';
      const owned = await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: edited, actor, now: new Date('2026-12-06T11:00:00Z'), expect: { exists: true }, audit: () => [] });
      await seed();
      expect(await store.getProduct('p')).toEqual(owned);

      await store.deleteProduct({ id: 'p', now: new Date('2026-12-06T12:00:00Z'), audit: gone => [{ actor, action: 'product.deleted', entityRef: gone.entityRef, target: gone.id }] });
      await seed();
      expect(await store.getProduct('p')).toBeUndefined();
      expect(logger.info).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: gateway product p was removed at .+; not seeded again \(take it out of the file, or create it through the API\)$/));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stores an API's reference as the catalog writes it, and skips, saying why, a product whose id or API is not one, or is another's", async () => {
    const { store } = await migratedStore(databases, 'SQLITE_3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-seed-'));
    const file = path.join(dir, 'products.yaml');
    const actor = 'user:default/carol';
    const t0 = new Date('2026-12-06T10:00:00Z');
    // Before the file is read: "taken" was another API's and was removed; "served" is offered under another id.
    await store.putProduct({ id: 'taken', entityRef: 'api:default/old', spec: minimalSpec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    await store.deleteProduct({ id: 'taken', now: t0, audit: gone => [{ actor, action: 'product.deleted', entityRef: gone.entityRef, target: gone.id }] });
    await store.putProduct({ id: 'served-2', entityRef: 'api:default/served', spec: minimalSpec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    fs.writeFileSync(file, [
      { id: 'short', entityRef: 'API:short', spec: minimalSpec },
      { id: 'bare', entityRef: 'bare', spec: minimalSpec },
      { id: 'Not An Id', entityRef: 'api:default/other', spec: minimalSpec },
      { id: 'component', entityRef: 'component:default/web', spec: minimalSpec },
      { id: 'taken', entityRef: 'api:default/new', spec: minimalSpec },
      { id: 'served', entityRef: 'api:default/served', spec: minimalSpec },
    ].map(doc => stringify(doc)).join('---\n'));
    const logger = mockServices.logger.mock();
    try {
      await seedProducts({ store, files: [file], allowedHosts: ['127.0.0.1'], logger });
      // The API's page finds it by the entity's full reference; a bare name is an API's, as the PUT reads it.
      expect((await store.getProductByEntity('api:default/short'))?.id).toBe('short');
      expect((await store.getProductByEntity('api:default/bare'))?.id).toBe('bare');
      expect((await store.listProducts()).map(p => p.id)).toEqual(['bare', 'served-2', 'short']);
      expect(logger.info).toHaveBeenCalledWith(expect.stringMatching(
        /products\.yaml: gateway product taken was removed at .+; not seeded again \(the id was api:default\/old's, and its usage is kept under it: give api:default\/new's product another id\)$/));
      expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: gateway product served not seeded: api:default\/served already has the gateway product served-2$/));
      expect(logger.error).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: id: "Not An Id" must be 1–63 lowercase letters, digits or "-"; skipped$/));
      expect(logger.error).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: product component: entityRef "component:default\/web" is not an API's reference, such as api:default\/llm-chat; skipped$/));

      // Never overwritten; a file that now names another API for it is told of.
      fs.writeFileSync(file, stringify({ id: 'short', entityRef: 'api:default/elsewhere', spec: minimalSpec }));
      await seedProducts({ store, files: [file], allowedHosts: ['127.0.0.1'], logger });
      expect((await store.getProduct('short'))?.entityRef).toBe('api:default/short');
      expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: gateway product short is api:default\/short's, not api:default\/elsewhere's as the file says; left as it is$/));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('skips, saying why, a document the YAML parser found wrong, and a price of .inf', async () => {
    const { store } = await migratedStore(databases, 'SQLITE_3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-seed-'));
    const file = path.join(dir, 'products.yaml');
    fs.writeFileSync(file, [
      // A key given twice: read as the last one, "twice-again".
      `${stringify({ id: 'twice', entityRef: 'api:default/twice', spec: minimalSpec })}id: twice-again\n`,
      // A key indented by mistake: read without it.
      `${stringify({ id: 'indented', entityRef: 'api:default/indented', spec: minimalSpec })} title: Misplaced\n`,
      // YAML's infinity, which JSON stores as null: a price that bills nothing.
      stringify({ id: 'inf', entityRef: 'api:default/inf', spec: { ...minimalSpec, models: [{ ...minimalSpec.models![0], inputPricePerMillion: Infinity }] } }),
      stringify({ id: 'good', entityRef: 'api:default/good', spec: minimalSpec }),
    ].join('---\n'));
    expect(fs.readFileSync(file, 'utf8')).toContain('inputPricePerMillion: .inf');
    const logger = mockServices.logger.mock();
    try {
      await seedProducts({ store, files: [file], allowedHosts: ['127.0.0.1'], logger });
      expect((await store.listProducts()).map(p => p.id)).toEqual(['good']);
      expect(logger.error).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: Map keys must be unique at line \d+, column 1; skipped$/));
      expect(logger.error).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: All mapping items must start at the same column at line \d+, column 1; skipped$/));
      expect(logger.error).toHaveBeenCalledWith(expect.stringMatching(/products\.yaml: product inf is invalid: spec\.models\[0\]\.inputPricePerMillion: must be a finite number$/));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
