import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

// The schema describes every route the router serves, and only those.
describe('the OpenAPI schema of /api/gateway', () => {
  it('names each route of the control plane with its method', () => {
    const schema = parse(fs.readFileSync(path.join(__dirname, 'openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(schema.paths).flatMap(([p, ops]) =>
      Object.keys(ops).filter(m => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map(m => `${m.toUpperCase()} ${p}`));
    const source = fs.readFileSync(path.join(__dirname, '../service/router.ts'), 'utf8');
    const served = [...source.matchAll(/router\.(get|put|post|delete|patch)\('([^']+)'/g)]
      .map(([, m, p]) => `${m.toUpperCase()} ${p.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(served.sort());
  });
});
