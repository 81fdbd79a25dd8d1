// Our proto/ against the published Triton protocol (facts in grpc-published-proto.ts): the same
// service and method names, and for every message and enum we declare, the published field numbers
// and types, so that a client built from Triton's grpc_service.proto interoperates.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { PROTO_PATH, SERVICE_NAME } from '../../src/serve/grpc/proto.ts';
import { PUBLISHED_METHODS, PUBLISHED_TYPES } from './grpc-published-proto.ts';

interface Field {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface Message {
  name: string;
  field: Field[];
  nestedType: Message[];
  enumType: EnumType[];
  options: { mapEntry?: boolean } | null;
}
interface EnumType {
  name: string;
  value: { name: string; number: number }[];
}

const LABEL: Record<string, string> = { LABEL_OPTIONAL: '', LABEL_REPEATED: 'repeated ', LABEL_REQUIRED: 'required ' };
const scalar = (f: Field) => (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM' ? f.typeName : f.type.slice(5).toLowerCase());

/** "repeated int64", "map<string, InferParameter>", "ModelQueuePolicy": as the facts table writes a field's type. */
function fieldType(message: Message, f: Field): string {
  const entry = f.type === 'TYPE_MESSAGE' ? message.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry) : undefined;
  if (entry) return `map<${scalar(entry.field[0])}, ${scalar(entry.field[1])}>`;
  return LABEL[f.label] + scalar(f);
}

/** Every message and enum of the definition, nested ones included (map entries left out), by full name. */
function declaredTypes(definition: PackageDefinition): Map<string, Record<string, [number, string] | number>> {
  const out = new Map<string, Record<string, [number, string] | number>>();
  const enumFacts = (e: EnumType) => Object.fromEntries(e.value.map((v) => [v.name, v.number]));
  const walk = (name: string, m: Message) => {
    out.set(name, Object.fromEntries(m.field.map((f) => [f.name, [f.number, fieldType(m, f)]])));
    for (const n of m.nestedType) if (!n.options?.mapEntry) walk(`${name}.${n.name}`, n);
    for (const e of m.enumType) out.set(`${name}.${e.name}`, enumFacts(e));
  };
  for (const [name, d] of Object.entries(definition)) {
    const def = d as { format?: string; type: unknown };
    if (def.format === undefined) continue;
    if (def.format.includes('EnumDescriptorProto')) out.set(name, enumFacts(def.type as EnumType));
    else walk(name, def.type as Message);
  }
  return out;
}

/** Each declared field or enum value whose number or type differs from the published one. */
function mismatches(declared: Map<string, Record<string, [number, string] | number>>): string[] {
  const wrong: string[] = [];
  for (const [name, fields] of declared) {
    const published = PUBLISHED_TYPES[name] ?? {};
    for (const [field, fact] of Object.entries(fields)) {
      if (!(field in published)) wrong.push(`${name}.${field}: not in the published message`);
      else if (JSON.stringify(published[field]) !== JSON.stringify(fact)) {
        wrong.push(`${name}.${field}: ours ${JSON.stringify(fact)}, published ${JSON.stringify(published[field])}`);
      }
    }
  }
  return wrong;
}

const definition = loadSync(PROTO_PATH, { keepCase: true });
const ours = declaredTypes(definition);

describe('proto/ against the published Triton protocol', () => {
  it('every message and enum we declare is a published one, and every one the facts list is declared', () => {
    assert.deepEqual([...ours.keys()].sort(), Object.keys(PUBLISHED_TYPES).sort());
  });

  it('every field and enum value we declare has the published number and type', () => {
    assert.deepEqual(mismatches(ours), []);
  });

  it('enums declare every published value (a client may send any of them)', () => {
    for (const [name, values] of ours) {
      if (Object.values(values).some((v) => typeof v !== 'number')) continue;
      assert.deepEqual(values, PUBLISHED_TYPES[name], name);
    }
  });

  it('the service is inference.GRPCInferenceService with published methods, types and streaming', () => {
    const service = definition[SERVICE_NAME] as Record<
      string,
      {
        path: string;
        requestStream: boolean;
        responseStream: boolean;
        requestType: { type: { name: string } };
        responseType: { type: { name: string } };
      }
    >;
    assert.ok(service, SERVICE_NAME);
    for (const [method, m] of Object.entries(service)) {
      assert.equal(m.path, `/${SERVICE_NAME}/${method}`);
      assert.deepEqual(
        [m.requestType.type.name, m.responseType.type.name, m.requestStream, m.responseStream],
        PUBLISHED_METHODS[method],
        method,
      );
    }
    // What we leave out, and why (docs/serving.md lists them too): these answer UNIMPLEMENTED.
    const notServed = Object.keys(PUBLISHED_METHODS).filter((m) => !(m in service));
    assert.deepEqual(notServed, [
      'SystemSharedMemoryStatus',
      'SystemSharedMemoryRegister',
      'SystemSharedMemoryUnregister',
      'CudaSharedMemoryStatus',
      'CudaSharedMemoryRegister',
      'CudaSharedMemoryUnregister',
      'TraceSetting',
      'LogSettings',
    ]);
  });

  it('the check finds a renumbered field, a retyped one and a field of our own', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-proto-'));
    try {
      const proto = path.join(dir, 'wrong.proto');
      writeFileSync(
        proto,
        'syntax = "proto3";\npackage inference;\n' +
          'message ModelConfigRequest { string name = 2; int32 version = 1; }\n' +
          'message ServerLiveResponse { bool live = 1; string extra = 2; }\n',
      );
      assert.deepEqual(mismatches(declaredTypes(loadSync(proto, { keepCase: true }))), [
        'inference.ModelConfigRequest.name: ours [2,"string"], published [1,"string"]',
        'inference.ModelConfigRequest.version: ours [1,"int32"], published [2,"string"]',
        'inference.ServerLiveResponse.extra: not in the published message',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
