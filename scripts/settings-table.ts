// Rewrites the README's settings table from src/settings.ts (npm run settings-table).
import { readFileSync, writeFileSync } from 'node:fs';
import { replaceSettingsTable } from '../src/settings-readme.ts';

const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = replaceSettingsTable(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? 'README settings table is up to date\n' : 'README settings table rewritten\n');
