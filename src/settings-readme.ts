import { settingsTable } from './settings.ts';

/** The page that holds the generated settings table, relative to the repository root. */
export const SETTINGS_TABLE_FILE = 'docs/configuration.md';

export const TABLE_START = '<!-- settings-table: generated from src/settings.ts by `npm run settings-table` -->';
export const TABLE_END = '<!-- /settings-table -->';

/** The page's text with the block between the markers replaced by the current table. */
export function replaceSettingsTable(markdown: string): string {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${SETTINGS_TABLE_FILE} has no "${TABLE_START}" … "${TABLE_END}" block`);
  return `${markdown.slice(0, start + TABLE_START.length)}\n${settingsTable()}\n${markdown.slice(end)}`;
}
