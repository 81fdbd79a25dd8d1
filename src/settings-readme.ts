import { settingsTable } from './settings.ts';

export const TABLE_START = '<!-- settings-table: generated from src/settings.ts by `npm run settings-table` -->';
export const TABLE_END = '<!-- /settings-table -->';

/** The README text with the block between the markers replaced by the current table. */
export function replaceSettingsTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no "${TABLE_START}" … "${TABLE_END}" block`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}
