import { z } from '@hono/zod-openapi';
import { getTableColumns } from 'drizzle-orm';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { tasks } from '../lib/db/schema.ts';
import { StoredTaskSchema, TaskIdSchema, taskFields, type FieldKind } from '../lib/tasks/model.ts';

/**
 * The two places a task's fields are written down agree: the drizzle table (lib/db/schema.ts)
 * and the API schema (TaskSchema in lib/tasks/model.ts), through taskFields, the field list
 * the repository's SQL and the mappers are built from. The comparison is shown to fail on a
 * deliberately mismatched schema and table, so it can catch a real disagreement.
 */

/** Columns that are stored but never shown. */
const INTERNAL_COLUMNS = new Set(['request_hash', 'legacy_id', 'flow_key']);

interface Field {
  name: string;
  key: string;
  kind: FieldKind;
  nullable: boolean;
  /** The allowed values, for an enum field. */
  values?: readonly string[];
}

type AnyTable = Parameters<typeof getTableColumns>[0];

/** Every way `fields` and `table` disagree, one sentence each; empty when they agree. */
function disagreements(table: AnyTable, fields: readonly Field[]): string[] {
  const problems: string[] = [];
  const columns = Object.entries(getTableColumns(table)).filter(([, column]) => !INTERNAL_COLUMNS.has(column.name));
  const byName = new Map(fields.map((field) => [field.name, field]));
  for (const [key, column] of columns) {
    const field = byName.get(column.name);
    if (!field) {
      problems.push(`column ${column.name} has no field`);
      continue;
    }
    byName.delete(column.name);
    if (field.key !== key) problems.push(`${column.name}: field key ${field.key}, table property ${key}`);
    const time = column.name.endsWith('_at');
    // The integer primary key (the rowid) is the task id, a fixed-width string in JSON.
    const expected: FieldKind[] = column.columnType === 'SQLiteInteger' ? [column.primary ? 'id' : time ? 'time' : 'int'] : column.columnType === 'SQLiteText' ? ['text', 'json'] : [];
    if (!expected.includes(field.kind)) problems.push(`${column.name}: ${column.columnType} column, field kind ${field.kind} (expected ${expected.join(' or ') || 'a known column type'})`);
    if (column.notNull === field.nullable) problems.push(`${column.name}: column ${column.notNull ? 'NOT NULL' : 'nullable'}, field ${field.nullable ? 'nullable' : 'not nullable'}`);
    const enumValues = (column as { enumValues?: readonly string[] }).enumValues;
    if (enumValues && JSON.stringify(enumValues) !== JSON.stringify(field.values)) {
      problems.push(`${column.name}: column values ${JSON.stringify(enumValues)}, field values ${JSON.stringify(field.values)}`);
    }
  }
  for (const name of byName.keys()) problems.push(`field ${name} has no column`);
  return problems;
}

/** Fields as an API schema declares them: the same reading lib/tasks/model.ts does for taskFields. */
function fieldsOf(schema: z.ZodObject): Field[] {
  return Object.entries(schema.shape).map(([name, declared]) => {
    const nullable = declared instanceof z.ZodNullable;
    const inner = (nullable ? declared.unwrap() : declared) as z.ZodType;
    const kind: FieldKind =
      inner === TaskIdSchema ? 'id' : inner instanceof z.ZodUnknown ? 'json' : inner instanceof z.ZodNumber ? 'int' : inner instanceof z.ZodISODateTime ? 'time' : 'text';
    const values = inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined;
    const key = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    return { name, key, kind, nullable: nullable || kind === 'json', ...(values ? { values } : {}) };
  });
}

describe('task fields: the drizzle table and the API schema agree', () => {
  it('taskFields is what TaskSchema declares (names, kinds, nullability, order)', () => {
    const fromSchema = fieldsOf(StoredTaskSchema).map(({ values: _, ...field }) => field);
    expect(taskFields.map((f) => ({ name: f.name, key: f.key, kind: f.kind, nullable: f.nullable }))).toEqual(fromSchema);
  });

  it('every column but request_hash and legacy_id has a field of the same name and type, and no field lacks a column', () => {
    const values = new Map(fieldsOf(StoredTaskSchema).map((field) => [field.name, field.values]));
    const fields = taskFields.map((field) => ({ ...field, key: String(field.key), values: values.get(field.name) }));
    expect(disagreements(tasks, fields)).toEqual([]);
    // The one internal column is really there, and really not a field.
    expect(Object.values(getTableColumns(tasks)).map((c) => c.name)).toContain('request_hash');
    expect(taskFields.map((f) => f.name)).not.toContain('request_hash');
  });

  it('reports a schema that disagrees with the table: a missing field, an extra one, a wrong kind, wrong nullability, other enum values', () => {
    const shape = { ...StoredTaskSchema.shape } as Record<string, z.ZodType>;
    delete shape.locked_by;
    shape.extra = z.string();
    shape.priority = z.string();
    shape.started_at = z.iso.datetime();
    shape.title = z.string().nullable();
    shape.status = z.enum(['pending', 'done']);
    shape.created_at = z.number().int();
    const mismatched = z.object(shape);
    expect(disagreements(tasks, fieldsOf(mismatched)).sort()).toEqual(
      [
        'column locked_by has no field',
        'field extra has no column',
        'priority: SQLiteInteger column, field kind text (expected int)',
        'started_at: column nullable, field not nullable',
        'title: column NOT NULL, field nullable',
        'status: column values ["pending","in_progress","completed","failed","cancelled"], field values ["pending","done"]',
        'created_at: SQLiteInteger column, field kind int (expected time)',
      ].sort(),
    );
  });

  it('reports a table that disagrees with the fields', () => {
    const small = sqliteTable('tasks', {
      id: text('id').primaryKey(),
      title: integer('title').notNull(),
      description: text('description'),
      runAt: text('run_at').notNull(),
      renamed: text('type').notNull(),
      newColumn: integer('new_column'),
    });
    const fields = taskFields.filter((f) => ['id', 'title', 'description', 'run_at', 'type'].includes(f.name)).map((f) => ({ ...f, key: String(f.key) }));
    expect(disagreements(small, fields).sort()).toEqual(
      [
        'title: SQLiteInteger column, field kind text (expected int)',
        'description: column nullable, field not nullable',
        'run_at: SQLiteText column, field kind time (expected text or json)',
        'type: field key type, table property renamed',
        'column new_column has no field',
        'id: SQLiteText column, field kind id (expected text or json)',
      ].sort(),
    );
  });
});
