import fs from 'node:fs';
import path from 'node:path';
import { readEnvConfig } from '@backstage/config-loader';
import { parseDocument } from 'yaml';
import { keyRequestWatcher, keyRequestWatchers } from '@quarterdeck/plugin-gateway-common';

const DATABASE_CLIENTS = ['better-sqlite3', 'pg'];

/**
 * The config files Backstage will read: each `--config` argument, or else
 * `app-config.yaml` (and `app-config.local.yaml` if present) at the repo root.
 */
export function configFiles(argv: string[], rootDir: string): string[] {
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config' && argv[i + 1]) files.push(argv[++i]);
    else if (argv[i].startsWith('--config=')) files.push(argv[i].slice(9));
  }
  if (files.length > 0) return files.map(f => path.resolve(rootDir, f));
  return ['app-config.yaml', 'app-config.local.yaml']
    .map(f => path.resolve(rootDir, f))
    .filter((f, i) => i === 0 || fs.existsSync(f));
}

type Json = Record<string, any>;

function merge(target: Json, source: Json): Json {
  for (const [key, value] of Object.entries(source ?? {})) {
    if (
      value && typeof value === 'object' && !Array.isArray(value) &&
      target[key] && typeof target[key] === 'object' && !Array.isArray(target[key])
    ) {
      merge(target[key], value);
    } else {
      target[key] = value;
    }
  }
  return target;
}

type Env = Record<string, string | undefined>;

/**
 * Keys start-up needs. When the files give one as an environment substitution
 * whose variable is unset, Backstage leaves the key out (an empty variable leaves
 * it empty): a plugin reading it with `config.getString` stops start-up with a
 * stack trace, and a database connection without them goes to the pg client's
 * defaults (localhost, the OS user, no password) and fails far from the config.
 * `[]` stands for every item of a list.
 */
const REQUIRED_KEYS = [
  'app.baseUrl',
  'backend.baseUrl',
  'backend.database.connection.host',
  'backend.database.connection.user',
  'backend.database.connection.password',
  // `static` access: token; `legacy`: secret; `jwks`: url; all of them: subject.
  'backend.auth.externalAccess[].options.token',
  'backend.auth.externalAccess[].options.secret',
  'backend.auth.externalAccess[].options.url',
  'backend.auth.externalAccess[].options.subject',
  'gateway.keySecret',
  // ClusterService (plugins/argo-node) reads these of each configured cluster.
  'kubernetes.clusterLocatorMethods[].clusters[].name',
  'kubernetes.clusterLocatorMethods[].clusters[].url',
];

/** The values at `key` (see REQUIRED_KEYS), each with its concrete path. */
function valuesAt(root: unknown, key: string): Array<{ path: string; value: unknown }> {
  let found: Array<{ path: string; value: unknown }> = [{ path: '', value: root }];
  for (const segment of key.split('.')) {
    const list = segment.endsWith('[]');
    const name = list ? segment.slice(0, -2) : segment;
    const next: typeof found = [];
    for (const { path: at, value } of found) {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || !(name in value)) continue;
      const child = (value as Json)[name];
      const childPath = at ? `${at}.${name}` : name;
      if (!list) next.push({ path: childPath, value: child });
      else if (Array.isArray(child)) child.forEach((item, i) => next.push({ path: `${childPath}[${i}]`, value: item }));
    }
    found = next;
  }
  return found;
}

/**
 * What Backstage makes of a config value that reads the environment: `${VAR}` (with
 * `${VAR:-fallback}` and the `$${` escape) and `$env: VAR`. Returns the variables
 * that leave it without a value (unset, or empty where the whole value is them), and
 * the value otherwise; undefined for a value that reads no environment.
 */
export function substituteEnv(value: unknown, env: Env): { value?: string; missing: string[] } | undefined {
  const read = (name: string) => env[name.trim()]?.trim();
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const name = (value as Json).$env;
    if (keys.length !== 1 || typeof name !== 'string') return undefined;
    const found = read(name);
    return found ? { value: found, missing: [] } : { missing: [name.trim()] };
  }
  if (typeof value !== 'string') return undefined;
  const parts = value.split(/(\$?\$\{[^{}]*\})/);
  if (parts.length === 1) return undefined;
  const unset: string[] = [];
  const empty: string[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const part = parts[i];
    if (part.startsWith('$$')) {
      parts[i] = part.slice(1);
      continue;
    }
    const separator = part.indexOf(':-');
    const name = (separator > -1 ? part.slice(2, separator) : part.slice(2, -1)).trim();
    const found = separator > -1 ? read(name) || part.slice(separator + 2, -1).trim() || undefined : read(name);
    if (found === undefined) unset.push(name);
    else if (found === '') empty.push(name);
    parts[i] = found ?? '';
  }
  // One unset variable leaves the key out; empty ones leave it empty if nothing else is in it.
  if (unset.length > 0) return { missing: unset };
  const result = parts.join('');
  return result === '' ? { missing: empty } : { value: result, missing: [] };
}

/** One line naming the required keys whose environment variables are unset, or undefined. */
function missingEnvironment(merged: Json, env: Env): string | undefined {
  const byVariable = new Map<string, string[]>();
  for (const key of REQUIRED_KEYS) {
    for (const { path: at, value } of valuesAt(merged, key)) {
      for (const name of substituteEnv(value, env)?.missing ?? []) {
        byVariable.set(name, [...(byVariable.get(name) ?? []), at]);
      }
    }
  }
  if (byVariable.size === 0) return undefined;
  if (byVariable.size === 1) {
    const [[name, keys]] = byVariable;
    return `${keys.join(', ')}: environment variable ${name} is not set (or empty)`;
  }
  return `environment variables not set (or empty): ${[...byVariable].map(([name, keys]) => `${name} (${keys.join(', ')})`).join(', ')}`;
}

/**
 * Checks what most often stops a start-up with a stack trace: a config file
 * that is missing or not YAML, a required key whose environment variable is
 * not set, an unknown database client, and a catalog file location that does
 * not exist. Returns one line naming the file or key, or undefined when all is
 * well.
 */
export function checkConfiguration(
  argv: string[],
  rootDir: string,
  env: Env = process.env,
): string | undefined {
  const merged: Json = {};
  for (const file of configFiles(argv, rootDir)) {
    const shown = path.relative(rootDir, file) || file;
    if (!fs.existsSync(file)) {
      return `${shown}: config file not found`;
    }
    const doc = parseDocument(fs.readFileSync(file, 'utf8'), {
      prettyErrors: true,
    });
    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      const where = err.linePos ? ` line ${err.linePos[0].line}` : '';
      return `${shown}${where}: malformed YAML: ${err.message.split('\n')[0]}`;
    }
    const value = doc.toJS();
    if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      return `${shown}: expected a YAML mapping at the top level`;
    }
    merge(merged, value ?? {});
  }
  // APP_CONFIG_<key> variables go over the files, as Backstage reads them.
  try {
    for (const { data } of readEnvConfig(env)) merge(merged, data);
  } catch (error) {
    return `environment: ${(error as Error).message}`;
  }

  const unset = missingEnvironment(merged, env);
  if (unset) return unset;

  const client = merged.backend?.database?.client;
  if (
    typeof client === 'string' &&
    !client.includes('${') &&
    !DATABASE_CLIENTS.includes(client)
  ) {
    return `backend.database.client: unknown database client '${client}' (use ${DATABASE_CLIENTS.join(' or ')})`;
  }

  const locations = merged.catalog?.locations;
  if (Array.isArray(locations)) {
    for (const [index, location] of locations.entries()) {
      if (location?.type !== 'file' || typeof location.target !== 'string') {
        continue;
      }
      // The catalog resolves file targets against the working directory.
      const target = path.resolve(rootDir, location.target);
      if (!fs.existsSync(target)) {
        return `catalog.locations[${index}].target: file ${location.target} does not exist`;
      }
    }
  }

  const keySecret = merged.gateway?.keySecret;
  if (keySecret === undefined || keySecret === null || keySecret === '') {
    return 'gateway.keySecret: missing (the server secret gateway keys are hashed with, at least 32 characters)';
  }
  // Checked as Backstage substitutes it (the variables are set: missingEnvironment saw to that).
  const secret = substituteEnv(keySecret, env)?.value ?? keySecret;
  if (typeof secret === 'string' && secret.length < 32) {
    return 'gateway.keySecret: must be at least 32 characters';
  }
  for (const field of ['deadKeyRetentionDays', 'keyExpiryWarningDays'] as const) {
    const days = merged.gateway?.[field];
    if (days !== undefined && !(typeof days === 'number' && days >= 0)) {
      return `gateway.${field}: must be a number of days, 0 or more (got ${JSON.stringify(days)})`;
    }
  }
  // As the plugin checks it: 0 or less makes every request born expired; a date past what a Date holds fails every request.
  const ttlDays = merged.gateway?.keyRequestTtlDays;
  if (ttlDays !== undefined && !(typeof ttlDays === 'number' && ttlDays > 0 && ttlDays <= 3650)) {
    return `gateway.keyRequestTtlDays: must be a number of days, more than 0 and at most 3650 (got ${typeof ttlDays === 'number' ? ttlDays : JSON.stringify(ttlDays)})`;
  }
  // Values Backstage substitutes at start (`${GROUP}`, `$env: GROUP`) are the plugin's to check once substituted.
  const substituted = (value: unknown) => (typeof value === 'string' && value.includes('${')) || (value !== null && typeof value === 'object' && !Array.isArray(value));
  const watchers: unknown = merged.gateway?.keyRequestWatchers;
  try {
    if (Array.isArray(watchers)) watchers.forEach((item, i) => substituted(item) || keyRequestWatcher(item, i));
    else if (!substituted(watchers)) keyRequestWatchers(watchers);
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}
