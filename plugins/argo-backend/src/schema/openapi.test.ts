import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROLLOUT_ACTIONS } from '../rollouts/actions';

const document = parse(fs.readFileSync(path.join(__dirname, 'openapi.yaml'), 'utf8')) as {
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; schema?: { enum?: string[] } }> }>>;
};

describe('the OpenAPI schema of /api/argo', () => {
  it('names each route the plugin serves, with its method', () => {
    const documented = Object.entries(document.paths).flatMap(([p, ops]) =>
      Object.keys(ops).filter(m => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map(m => `${m.toUpperCase()} ${p}`));
    const served = ['../service/router.ts', '../rollouts/router.ts']
      .flatMap(file => [...fs.readFileSync(path.join(__dirname, file), 'utf8').matchAll(/router\.(get|put|post|delete|patch)\('([^']+)'/g)])
      .map(([, m, p]) => `${m.toUpperCase()} ${p.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(served.sort());
  });

  it('lists the rollout actions the router takes', () => {
    const post = document.paths['/rollouts/{cluster}/{namespace}/{name}/{action}'].post;
    expect(post.parameters?.find(p => p.name === 'action')?.schema?.enum).toEqual([...ROLLOUT_ACTIONS]);
  });
});
