import fs from 'node:fs';
import path from 'node:path';
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

/**
 * Checks what most often stops a start-up with a stack trace: a config file
 * that is missing or not YAML, an unknown database client, and a catalog file
 * location that does not exist. Returns one line naming the file or key, or
 * undefined when all is well.
 */
export function checkConfiguration(
  argv: string[],
  rootDir: string,
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
  if (typeof keySecret === 'string' && !keySecret.includes('${') && keySecret.length < 32) {
    return 'gateway.keySecret: must be at least 32 characters';
  }
  for (const field of ['deadKeyRetentionDays', 'keyExpiryWarningDays'] as const) {
    const days = merged.gateway?.[field];
    if (days !== undefined && !(typeof days === 'number' && days >= 0)) {
      return `gateway.${field}: must be a number of days, 0 or more (got ${JSON.stringify(days)})`;
    }
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
