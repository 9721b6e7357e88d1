#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run clean:data`: forgets everything the portal stored (the SQLite
// files under data/). Stop the portal first.
const fs = require('node:fs');
const path = require('node:path');

const data = path.resolve(__dirname, '..', 'data');
for (const entry of fs.existsSync(data) ? fs.readdirSync(data) : []) {
  if (entry === '.gitkeep') continue;
  fs.rmSync(path.join(data, entry), { recursive: true, force: true });
  console.log(`removed data/${entry}`);
}
console.log('The portal will start from an empty database.');
