import { checkConfiguration } from './preflight';

// A bad app-config stops start-up with one line naming the key or file,
// before Backstage turns it into a stack trace. Checked before the backend's
// modules load, so the answer comes at once.
const problem = checkConfiguration(process.argv.slice(2), process.cwd());
if (problem) {
  process.stderr.write(`Configuration error: ${problem}\n`);
  process.exit(1);
}

// Loaded only now, and synchronously: a dynamic import() would go through
// Node's ESM loader, which does not see this TypeScript module's exports.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startBackend } = require('./backend') as typeof import('./backend');

startBackend();
