export declare const SQLITE_SCHEMA: string;
export declare const POSTGRES_SCHEMA: string;
export declare function derivePostgresSchema(sqliteSchema: string): string;
