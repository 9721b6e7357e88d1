import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * The data plane's code as one plain JavaScript file, for when the plugin
 * runs from its TypeScript sources (as this repository's backend does).
 *
 * Why: a source checkout runs through Backstage's SWC require hook, and in
 * the data plane's process that hook and what it compiles would be most of
 * the memory: 132 MB at rest through the hook against 59 MB for the same
 * code bundled. esbuild (what Backstage's own build uses) bundles child.ts
 * and its relative imports in well under a second at start. Packages stay
 * outside the bundle and are required by the absolute path this plugin
 * resolves them to, so the file can live in the temporary directory; its
 * name is its content's hash, written by rename, so portals (or test
 * workers) starting at once never read each other's half-written file.
 */
export async function bundleChild(entry: string): Promise<string> {
  const esbuild: typeof import('esbuild') = require('esbuild');
  const builtins = new Set(builtinModules);
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    format: 'cjs',
    write: false,
    keepNames: true,
    logLevel: 'silent',
    plugins: [{
      name: 'packages-by-absolute-path',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, args => {
          if (args.path.startsWith('node:') || builtins.has(args.path)) return { path: args.path, external: true };
          return { path: require.resolve(args.path, { paths: [args.resolveDir] }), external: true };
        });
      },
    }],
  });
  const code = result.outputFiles[0].contents;
  const dir = path.join(os.tmpdir(), 'quarterdeck-dataplane');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `child-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.cjs`);
  if (!fs.existsSync(file)) {
    const partial = `${file}.${process.pid}.partial`;
    fs.writeFileSync(partial, code);
    fs.renameSync(partial, file);
  }
  return file;
}
