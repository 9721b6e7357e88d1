import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfiguration, configFiles, substituteEnv } from './preflight';

describe('checkConfiguration', () => {
  let dir: string;
  const write = (name: string, text: string) =>
    fs.writeFileSync(path.join(dir, name), text);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-preflight-'));
    fs.mkdirSync(path.join(dir, 'examples'));
    write('examples/all.yaml', 'kind: Location\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const good = `
backend:
  database:
    client: better-sqlite3
gateway:
  keySecret: a-server-secret-of-at-least-32-characters
catalog:
  locations:
    - type: file
      target: ./examples/all.yaml
    - type: url
      target: https://example.com/catalog-info.yaml
`;

  it('accepts a good config', () => {
    write('app-config.yaml', good);
    expect(checkConfiguration([], dir)).toBeUndefined();
  });

  it('names the file and line of malformed YAML', () => {
    write('app-config.yaml', 'backend:\n  database:\n    client: pg\n  - oops: [\n');
    expect(checkConfiguration([], dir)).toMatch(
      /^app-config\.yaml line \d+: malformed YAML: /,
    );
  });

  it('names the key of an unknown database client', () => {
    write('app-config.yaml', good.replace('better-sqlite3', 'mysql'));
    expect(checkConfiguration([], dir)).toBe(
      "backend.database.client: unknown database client 'mysql' (use better-sqlite3 or pg)",
    );
  });

  it('names a catalog file location that does not exist', () => {
    write('app-config.yaml', good.replace('./examples/all.yaml', './examples/missing.yaml'));
    expect(checkConfiguration([], dir)).toBe(
      'catalog.locations[0].target: file ./examples/missing.yaml does not exist',
    );
  });

  it('names a --config file that does not exist', () => {
    write('app-config.yaml', good);
    expect(checkConfiguration(['--config', 'nope.yaml'], dir)).toBe(
      'nope.yaml: config file not found',
    );
  });

  it('merges --config files in order, later ones winning', () => {
    write('app-config.yaml', good);
    write('override.yaml', 'backend:\n  database:\n    client: oracle\n');
    expect(
      checkConfiguration(['--config', 'app-config.yaml', '--config=override.yaml'], dir),
    ).toMatch(/unknown database client 'oracle'/);
  });

  it('reads app-config.local.yaml after app-config.yaml when no --config is given', () => {
    write('app-config.yaml', good);
    expect(configFiles([], dir)).toEqual([path.join(dir, 'app-config.yaml')]);
    write('app-config.local.yaml', 'app: {}\n');
    expect(configFiles([], dir)).toEqual([
      path.join(dir, 'app-config.yaml'),
      path.join(dir, 'app-config.local.yaml'),
    ]);
  });

  it('leaves environment substitutions for Backstage to resolve', () => {
    write('app-config.yaml', good.replace('better-sqlite3', '${DB_CLIENT}'));
    expect(checkConfiguration([], dir)).toBeUndefined();
  });
});

describe('checkConfiguration of the gateway', () => {
  it('asks for a gateway.keySecret of at least 32 characters', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-preflight-'));
    const env = { QUARTERDECK_GATEWAY_KEY_SECRET: 'a-server-secret-of-at-least-32-characters' };
    const check = () => checkConfiguration([], dir, env);
    try {
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'backend:\n  database:\n    client: pg\n');
      expect(check()).toBe('gateway.keySecret: missing (the server secret gateway keys are hashed with, at least 32 characters)');
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: short\n');
      expect(check()).toBe('gateway.keySecret: must be at least 32 characters');
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n');
      expect(check()).toBeUndefined();
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  deadKeyRetentionDays: -1\n');
      expect(check()).toBe('gateway.deadKeyRetentionDays: must be a number of days, 0 or more (got -1)');
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  deadKeyRetentionDays: a month\n');
      expect(check()).toBe('gateway.deadKeyRetentionDays: must be a number of days, 0 or more (got "a month")');
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyExpiryWarningDays: -2\n');
      expect(check()).toBe('gateway.keyExpiryWarningDays: must be a number of days, 0 or more (got -2)');
      for (const [days, got] of [['0', '0'], ['-1', '-1'], ['.inf', 'Infinity'], ['36500', '36500'], ['a week', '"a week"']]) {
        fs.writeFileSync(path.join(dir, 'app-config.yaml'), `gateway:\n  keySecret: \${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestTtlDays: ${days}\n`);
        expect(check()).toBe(`gateway.keyRequestTtlDays: must be a number of days, more than 0 and at most 3650 (got ${got})`);
      }
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestTtlDays: 0.5\n');
      expect(check()).toBeUndefined();
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestWatchers: [platform-admins]\n');
      expect(check()).toBe('gateway.keyRequestWatchers[0]: "platform-admins" is not a group or user reference, such as group:default/platform-admins');
      // What Backstage substitutes at start is checked once substituted, by the plugin; the items around it here.
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestWatchers: [\'${ADMINS}\', { $env: REVIEWERS }, user:default/grace]\n');
      expect(check()).toBeUndefined();
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestWatchers: [\'${ADMINS}\', grace]\n');
      expect(check()).toBe('gateway.keyRequestWatchers[1]: "grace" is not a group or user reference, such as group:default/platform-admins');
      fs.writeFileSync(path.join(dir, 'app-config.yaml'), 'gateway:\n  keySecret: ${QUARTERDECK_GATEWAY_KEY_SECRET}\n  keyRequestWatchers: group:default/platform-admins\n');
      expect(check()).toBe('gateway.keyRequestWatchers: must be a list of group or user references (got "group:default/platform-admins")');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkConfiguration of environment variables', () => {
  const root = path.resolve(__dirname, '../../..');
  const production = ['--config', 'app-config.production.yaml'];
  // What README's docker run sets (and portal.integration.test.ts starts the config with).
  const env: Record<string, string> = {
    APP_BASE_URL: 'https://portal.example.com',
    BACKEND_STATIC_TOKEN: 'a-static-token',
    QUARTERDECK_GATEWAY_KEY_SECRET: 'a-server-secret-of-at-least-32-characters',
    POSTGRES_HOST: 'db', POSTGRES_PORT: '5432', POSTGRES_USER: 'quarterdeck', POSTGRES_PASSWORD: 'secret',
    KUBERNETES_CLUSTER_NAME: 'prod', KUBERNETES_CLUSTER_URL: 'https://kubernetes.example.com:6443',
    KUBERNETES_SERVICE_ACCOUNT_TOKEN: 'token', KUBERNETES_CA_DATA: 'eA==',
  };
  const without = (...names: string[]) => Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name)));

  it('starts the production config when every required variable is set, ORGANIZATION_NAME and KUBERNETES_CA_DATA being optional', () => {
    expect(checkConfiguration(production, root, env)).toBeUndefined();
    expect(checkConfiguration(production, root, without('KUBERNETES_CA_DATA', 'KUBERNETES_SERVICE_ACCOUNT_TOKEN', 'POSTGRES_PORT'))).toBeUndefined();
  });

  it('names the key and the variable that is not set, in one line', () => {
    expect(checkConfiguration(production, root, without('QUARTERDECK_GATEWAY_KEY_SECRET'))).toBe(
      'gateway.keySecret: environment variable QUARTERDECK_GATEWAY_KEY_SECRET is not set (or empty)',
    );
    expect(checkConfiguration(production, root, without('KUBERNETES_CLUSTER_NAME'))).toBe(
      'kubernetes.clusterLocatorMethods[0].clusters[0].name: environment variable KUBERNETES_CLUSTER_NAME is not set (or empty)',
    );
    expect(checkConfiguration(production, root, { ...env, POSTGRES_PASSWORD: ' ' })).toBe(
      'backend.database.connection.password: environment variable POSTGRES_PASSWORD is not set (or empty)',
    );
  });

  it('names every required variable that is not set at once', () => {
    expect(checkConfiguration(production, root, {})).toBe(
      'environment variables not set (or empty): APP_BASE_URL (app.baseUrl, backend.baseUrl), ' +
        'POSTGRES_HOST (backend.database.connection.host), POSTGRES_USER (backend.database.connection.user), ' +
        'POSTGRES_PASSWORD (backend.database.connection.password), ' +
        'BACKEND_STATIC_TOKEN (backend.auth.externalAccess[0].options.token), ' +
        'QUARTERDECK_GATEWAY_KEY_SECRET (gateway.keySecret), ' +
        'KUBERNETES_CLUSTER_NAME (kubernetes.clusterLocatorMethods[0].clusters[0].name), ' +
        'KUBERNETES_CLUSTER_URL (kubernetes.clusterLocatorMethods[0].clusters[0].url)',
    );
  });

  it('takes APP_CONFIG_ variables over the files, as Backstage does: no cluster without KUBERNETES_*', () => {
    const noCluster = { ...without('KUBERNETES_CLUSTER_NAME', 'KUBERNETES_CLUSTER_URL', 'KUBERNETES_SERVICE_ACCOUNT_TOKEN', 'KUBERNETES_CA_DATA'), APP_CONFIG_kubernetes_clusterLocatorMethods: '[]' };
    expect(checkConfiguration(production, root, noCluster)).toBeUndefined();
    expect(checkConfiguration(production, root, { ...without('QUARTERDECK_GATEWAY_KEY_SECRET'), APP_CONFIG_gateway_keySecret: 'a-server-secret-of-at-least-32-characters' })).toBeUndefined();
    expect(checkConfiguration(production, root, { ...env, APP_CONFIG_gateway_keySecret: 'short' })).toBe('gateway.keySecret: must be at least 32 characters');
  });

  it('checks the length of a substituted gateway.keySecret', () => {
    expect(checkConfiguration(production, root, { ...env, QUARTERDECK_GATEWAY_KEY_SECRET: 'short' })).toBe('gateway.keySecret: must be at least 32 characters');
  });

  it('substitutes as Backstage does', () => {
    expect(substituteEnv('plain', {})).toBeUndefined();
    expect(substituteEnv(42, {})).toBeUndefined();
    expect(substituteEnv('https://${HOST}:${PORT:-443}/', { HOST: ' portal ' })).toEqual({ value: 'https://portal:443/', missing: [] });
    expect(substituteEnv('https://${HOST}/', {})).toEqual({ missing: ['HOST'] });
    expect(substituteEnv('${A}${B}', { A: '' })).toEqual({ missing: ['B'] });
    expect(substituteEnv('${A}${B}', { A: '', B: ' ' })).toEqual({ missing: ['A', 'B'] });
    expect(substituteEnv('x${A}', { A: '' })).toEqual({ value: 'x', missing: [] });
    expect(substituteEnv('${A:-}', {})).toEqual({ missing: ['A'] });
    expect(substituteEnv('$${LITERAL}', {})).toEqual({ value: '${LITERAL}', missing: [] });
    expect(substituteEnv({ $env: 'TOKEN' }, { TOKEN: 't' })).toEqual({ value: 't', missing: [] });
    expect(substituteEnv({ $env: 'TOKEN' }, {})).toEqual({ missing: ['TOKEN'] });
  });
});
