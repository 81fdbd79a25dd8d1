// Records built from user-controlled keys (aliases, labels, settings per model) are plain objects,
// and a plain object answers names it never held: record["constructor"] is Object, "toString" in
// record is true. Every lookup by user text goes through here, or uses a Map.

/** record[key] when the record itself holds key; undefined for names it only inherits ("constructor", "toString"…). */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
