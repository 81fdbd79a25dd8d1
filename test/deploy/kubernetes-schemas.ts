// Offline schema validation for the deployment manifests: Kubernetes kinds through kubernetes-models
// (the cluster's OpenAPI schemas, compiled), KServe kinds through ajv and the CRD schemas vendored in
// deploy/kserve/schemas (scripts/kserve-schemas.mjs).
// ajv comes with Fastify (@fastify/ajv-compiler, ^8.12), not as a direct dependency.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; generateName?: string; [key: string]: unknown };
  [key: string]: unknown;
}

interface Validatable {
  validate(): void;
}

/** Every kind our manifests may contain; anything else is reported, never passed unchecked. */
const KUBERNETES_KINDS: Record<string, (data: any) => Validatable> = {
  'apps/v1 Deployment': (d) => new Deployment(d),
  'autoscaling/v2 HorizontalPodAutoscaler': (d) => new HorizontalPodAutoscaler(d),
  'batch/v1 Job': (d) => new Job(d),
  'policy/v1 PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
  'v1 ConfigMap': (d) => new ConfigMap(d),
  'v1 PersistentVolumeClaim': (d) => new PersistentVolumeClaim(d),
  'v1 Secret': (d) => new Secret(d),
  'v1 Service': (d) => new Service(d),
};

/**
 * Problems with one object: types, required fields and enums of the Kubernetes OpenAPI schema
 * (kubernetes-models does not reject unknown fields; the tests check the fields that matter by name).
 */
export function kubernetesProblems(object: K8sObject): string[] {
  const make = KUBERNETES_KINDS[`${object.apiVersion} ${object.kind}`];
  if (!make) return [`unknown kind ${object.apiVersion} ${object.kind}: add it to KUBERNETES_KINDS`];
  try {
    make(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

const KSERVE_SCHEMAS: Record<string, string> = {
  'serving.kserve.io/v1alpha1 ServingRuntime': 'servingruntime.v1alpha1.json',
  'serving.kserve.io/v1beta1 InferenceService': 'inferenceservice.v1beta1.json',
};

/**
 * The API server prunes or (with strict field validation, kubectl's default) rejects fields a CRD
 * schema does not declare; JSON Schema allows them. Declaring additionalProperties: false wherever
 * the schema lists properties and does not preserve unknown fields gives the strict behaviour.
 */
function strictFields(schema: any): any {
  if (Array.isArray(schema)) return schema.map(strictFields);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, strictFields(v)]));
  if (out.properties && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

function describeError(e: ErrorObject): string {
  const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
  return `${e.instancePath || '/'} ${e.message}${extra}`;
}

/** A validator for KServe objects; it answers the list of problems (empty when valid). */
export function kserveValidator(schemaDir = path.resolve(import.meta.dirname, '..', '..', 'deploy', 'kserve', 'schemas')) {
  // Kubernetes' schema extensions and formats (int32, int64, ...) carry no JSON Schema meaning here;
  // CEL rules (x-kubernetes-validations) are not evaluated. Quantities are int-or-string with a
  // pattern and no type, which ajv's strictTypes would log about for every one.
  const ajv = new Ajv({ allErrors: true, strictSchema: false, strictTypes: false, validateFormats: false });
  const validators = Object.fromEntries(
    Object.entries(KSERVE_SCHEMAS).map(([kind, file]) => {
      const { $comment: _source, ...schema } = JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'));
      return [kind, ajv.compile(strictFields(schema))];
    }),
  );
  return (object: K8sObject): string[] => {
    const validate = validators[`${object.apiVersion} ${object.kind}`];
    if (!validate) return [`no vendored schema for ${object.apiVersion} ${object.kind}`];
    if (!object.metadata?.name) return ['metadata.name is missing'];
    return validate(object) ? [] : (validate.errors ?? []).map(describeError);
  };
}
