// Rewrites the settings table in docs/configuration.md from src/settings.ts (npm run settings-table).
import { readFileSync, writeFileSync } from 'node:fs';
import { replaceSettingsTable, SETTINGS_TABLE_FILE } from '../src/settings-readme.ts';

const file = new URL(`../${SETTINGS_TABLE_FILE}`, import.meta.url);
const before = readFileSync(file, 'utf8');
const after = replaceSettingsTable(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(`${SETTINGS_TABLE_FILE}: settings table ${after === before ? 'is up to date' : 'rewritten'}\n`);
