import * as kubernetesTypes from '@kubernetes/client-node';
// kubernetes-models ships validators that ajv compiled from the official Kubernetes OpenAPI
// document (v1.33.0 for its 4.5 releases, per its change log): the batch/v1 Job schema with every
// definition it refers to, so nothing is fetched when the tests run. Its 5.x releases (v1.36)
// declare Node 22, which aimesh's oldest supported Node is not.
import { Job } from 'kubernetes-models/batch/v1/Job';

interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
}

/**
 * What the Kubernetes JSON schema of batch/v1 Job finds wrong with `manifest`, one line per
 * error (`/spec/template/... keyword {params}`); empty when the manifest is valid.
 */
export function jobSchemaErrors(manifest: Record<string, unknown>): string[] {
  try {
    new Job(manifest as ConstructorParameters<typeof Job>[0]).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return errors.map((e) => `${e.instancePath || '/'} ${e.keyword} ${JSON.stringify(e.params)}`);
  }
}

type AttributeMap = { baseName: string; type: string }[];

/**
 * The fields of `value` that its API type does not define, as paths — what `kubectl apply`
 * rejects with server-side strict field validation, and what the OpenAPI schema alone lets
 * through (it does not forbid additional properties). The field lists are those of the typed
 * models of @kubernetes/client-node, generated from the same OpenAPI document of its release.
 */
export function unknownFields(value: unknown, type = 'V1Job', path = ''): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  if (array && Array.isArray(value))
    return value.flatMap((item, i) => unknownFields(item, array[1], `${path}/${i}`));
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map && isObject(value))
    return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1], `${path}/${k}`));
  const model = (kubernetesTypes as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>)[
    type
  ];
  if (!model?.getAttributeTypeMap || !isObject(value)) return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, child]) => {
    const childType = fields.get(key);
    return childType === undefined ? [`${path}/${key}`] : unknownFields(child, childType, `${path}/${key}`);
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
