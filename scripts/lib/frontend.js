// Builds packages/app when its dist is older than the sources it is built
// from, so `npm start` and the journeys never serve a stale frontend.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const SOURCES = ['packages/app', 'plugins/argo', 'plugins/gateway', 'plugins/argo-common', 'plugins/gateway-common', 'plugins/quarterdeck-react'];
const STAMP = path.join(root, 'packages/app/dist/.quarterdeck-built');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function frontendIsStale() {
  if (!fs.existsSync(STAMP)) return true;
  const built = fs.statSync(STAMP).mtimeMs;
  return SOURCES.map(dir => path.join(root, dir))
    .some(dir => fs.existsSync(dir) && newestMtime(dir) > built);
}

/** Builds the frontend if needed; exits the process if the build fails. */
function ensureFrontendBuilt() {
  if (!frontendIsStale()) return;
  console.log('Building the frontend (first start or changed sources)…');
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [require.resolve('@backstage/cli/bin/backstage-cli'), 'package', 'build'],
    { cwd: path.join(root, 'packages/app'), stdio: 'inherit' },
  );
  if (result.status !== 0) {
    console.error('Frontend build failed; see the output above.');
    process.exit(result.status ?? 1);
  }
  fs.writeFileSync(STAMP, new Date().toISOString());
  console.log(`Frontend built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

module.exports = { ensureFrontendBuilt };
