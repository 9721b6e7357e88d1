import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';

let bundled: Promise<Uint8Array> | undefined;

/**
 * The data plane's code as one plain JavaScript file, for when the plugin
 * runs from its TypeScript sources (as this repository's backend does).
 *
 * Why: a source checkout runs through Backstage's SWC require hook, and in
 * the data plane's process that hook and what it compiles would be most of
 * the memory: 132 MB at rest through the hook against 59 MB for the same
 * code bundled. esbuild (what Backstage's own build uses) bundles child.ts
 * and its relative imports in well under a second, with this repository's
 * own packages, which are TypeScript too. Installed packages stay outside
 * the bundle and are required by the absolute path this plugin resolves
 * them to, so the file can be run from anywhere (see writeChildBundle).
 * Built once per portal process, however many data planes it starts.
 */
export function bundleChild(entry: string): Promise<Uint8Array> {
  bundled ??= bundle(entry);
  return bundled;
}

async function bundle(entry: string): Promise<Uint8Array> {
  const esbuild: typeof import('esbuild') = require('esbuild');
  const builtins = new Set(builtinModules);
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    format: 'cjs',
    write: false,
    // No keepNames: it wraps every closure in a defineProperty call as it is
    // created (2 % of the data plane's CPU at 1,000 streams); without
    // minifying, functions keep their names anyway.
    logLevel: 'silent',
    plugins: [{
      name: 'packages-by-absolute-path',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, args => {
          if (args.path.startsWith('node:') || builtins.has(args.path)) return { path: args.path, external: true };
          const resolved = require.resolve(args.path, { paths: [args.resolveDir] });
          // TypeScript sources (this repository's own packages, such as gateway-common, wherever a symlink puts
          // them) are bundled, as the child itself is: the child runs without a TypeScript transform.
          if (/\.[cm]?tsx?$/.test(resolved)) return { path: resolved };
          return { path: resolved, external: true };
        });
      },
    }],
  });
  return result.outputFiles[0].contents;
}

/**
 * Writes the bundle for one start of the process, in a directory of its own
 * under the temporary directory: created private (0700) under an
 * unpredictable name, so no other user of the machine can put code there
 * for the portal to run. `remove` once the process has loaded it; nothing
 * is left behind even when the portal is killed later.
 */
export function writeChildBundle(code: Uint8Array): { file: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quarterdeck-'));
  const file = path.join(dir, 'dataplane', 'child.cjs');
  fs.mkdirSync(path.dirname(file), { mode: 0o700 });
  fs.writeFileSync(file, code, { mode: 0o600 });
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
