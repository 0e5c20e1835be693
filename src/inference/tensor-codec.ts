import { badRequest } from '../kernel/errors.js';
import {
  type Datatype,
  elementCount,
  type Tensor,
  type TensorData,
  type TensorSpec,
} from '../ports/model-runtime.js';

/** A tensor as the V2 JSON protocol carries it. */
export interface JsonTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown;
  parameters?: Record<string, unknown>;
}

type NumericArray = Exclude<TensorData, string[]>;
type NumericCtor = { new (length: number): NumericArray };

const numeric: Record<
  Exclude<Datatype, 'BYTES'>,
  { ctor: NumericCtor; min: number; max: number; integer: boolean; big?: boolean }
> = {
  BOOL: { ctor: Uint8Array, min: 0, max: 1, integer: true },
  UINT8: { ctor: Uint8Array, min: 0, max: 255, integer: true },
  UINT16: { ctor: Uint16Array, min: 0, max: 65_535, integer: true },
  UINT32: { ctor: Uint32Array, min: 0, max: 4_294_967_295, integer: true },
  UINT64: { ctor: BigUint64Array, min: 0, max: Number.MAX_SAFE_INTEGER, integer: true, big: true },
  INT8: { ctor: Int8Array, min: -128, max: 127, integer: true },
  INT16: { ctor: Int16Array, min: -32_768, max: 32_767, integer: true },
  INT32: { ctor: Int32Array, min: -2_147_483_648, max: 2_147_483_647, integer: true },
  INT64: {
    ctor: BigInt64Array,
    min: Number.MIN_SAFE_INTEGER,
    max: Number.MAX_SAFE_INTEGER,
    integer: true,
    big: true,
  },
  FP32: { ctor: Float32Array, min: -3.4028234663852886e38, max: 3.4028234663852886e38, integer: false },
  FP64: { ctor: Float64Array, min: -Number.MAX_VALUE, max: Number.MAX_VALUE, integer: false },
};

/** The datatypes this server accepts. */
export const datatypes = [...Object.keys(numeric), 'BYTES'] as Datatype[];

/** Largest tensor accepted from JSON, in elements; bounds memory before the body limit does. */
const MAX_ELEMENTS = 16_777_216;

/** A new, zeroed flat array for `count` elements of `datatype`. */
export function allocate(datatype: Datatype, count: number): TensorData {
  if (datatype === 'BYTES') return new Array<string>(count).fill('');
  return new numeric[datatype].ctor(count);
}

/** Parses and checks one V2 JSON input tensor; every problem is a 400 naming the input. */
export function decodeTensor(input: JsonTensor): Tensor {
  const where = `input "${input.name}"`;
  const datatype = input.datatype as Datatype;
  if (!datatypes.includes(datatype)) {
    throw badRequest(
      'unsupported_datatype',
      `${where}: datatype ${JSON.stringify(input.datatype)} is not one of ${datatypes.join(', ')}`,
    );
  }
  if (!Array.isArray(input.shape) || input.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw badRequest('invalid_shape', `${where}: shape must be a list of non-negative integers`);
  }
  const count = elementCount(input.shape);
  if (count > MAX_ELEMENTS)
    throw badRequest('tensor_too_large', `${where}: ${count} elements exceed the limit of ${MAX_ELEMENTS}`);
  const flat = flatten(input.data, count, where);
  if (flat.length !== count) {
    throw badRequest(
      'shape_mismatch',
      `${where}: shape [${input.shape.join(', ')}] holds ${count} elements but data has ${flat.length}`,
    );
  }
  return { name: input.name, datatype, shape: [...input.shape], data: fill(datatype, flat, where) };
}

function flatten(data: unknown, limit: number, where: string): unknown[] {
  if (!Array.isArray(data)) throw badRequest('invalid_data', `${where}: data must be an array`);
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (node: unknown, depth: number) => {
    if (depth > 32) throw badRequest('invalid_data', `${where}: data is nested too deeply`);
    if (!Array.isArray(node)) {
      out.push(node);
      return;
    }
    for (const item of node) {
      if (out.length > limit) return;
      walk(item, depth + 1);
    }
  };
  walk(data, 0);
  return out;
}

function fill(datatype: Datatype, flat: unknown[], where: string): TensorData {
  if (datatype === 'BYTES') {
    for (const v of flat)
      if (typeof v !== 'string')
        throw badRequest(
          'invalid_data',
          `${where}: BYTES elements must be strings, got ${JSON.stringify(v)}`,
        );
    return flat as string[];
  }
  const kind = numeric[datatype];
  const out = new kind.ctor(flat.length);
  for (let i = 0; i < flat.length; i++) {
    let v = flat[i];
    if (datatype === 'BOOL' && typeof v === 'boolean') v = v ? 1 : 0;
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < kind.min ||
      v > kind.max ||
      (kind.integer && !Number.isInteger(v))
    ) {
      throw badRequest(
        'invalid_data',
        `${where}: element ${i} (${JSON.stringify(v)}) is not a valid ${datatype}`,
      );
    }
    out[i] = kind.big ? (BigInt(v) as never) : (v as never);
  }
  return out;
}

/** Checks a decoded tensor against the model's declared input: datatype and every fixed dimension. */
export function checkAgainstSpec(tensor: Tensor, spec: TensorSpec): void {
  if (tensor.datatype !== spec.datatype) {
    throw badRequest(
      'datatype_mismatch',
      `input "${tensor.name}" must be ${spec.datatype}, got ${tensor.datatype}`,
    );
  }
  const fits =
    tensor.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === tensor.shape[i]);
  if (!fits) {
    throw badRequest(
      'shape_mismatch',
      `input "${tensor.name}" must have shape [${spec.shape.join(', ')}] (-1 = any), got [${tensor.shape.join(', ')}]`,
    );
  }
}

/** A tensor as V2 JSON: flat data, INT64 as numbers, BOOL as booleans. */
export function encodeTensor(tensor: Tensor): JsonTensor {
  const { data } = tensor;
  let out: unknown[];
  if (Array.isArray(data)) out = data;
  else if (data instanceof BigInt64Array || data instanceof BigUint64Array) out = Array.from(data, Number);
  else if (tensor.datatype === 'BOOL') out = Array.from(data as Uint8Array, (v) => v !== 0);
  else out = Array.from(data as Float32Array);
  return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: out };
}

/** Joins several requests' tensors (same names, datatypes and inner shapes) along the first dimension. */
export function concatBatch(requests: Tensor[][]): Tensor[] {
  if (requests.length === 1) return requests[0];
  return requests[0].map((first, k) => {
    const parts = requests.map((r) => r[k]);
    const rows = parts.reduce((sum, t) => sum + t.shape[0], 0);
    const shape = [rows, ...first.shape.slice(1)];
    const data = allocate(first.datatype, elementCount(shape));
    let offset = 0;
    for (const part of parts) {
      if (Array.isArray(data))
        for (let i = 0; i < part.data.length; i++) data[offset + i] = (part.data as string[])[i];
      else (data as Float32Array).set(part.data as Float32Array, offset);
      offset += part.data.length;
    }
    return { name: first.name, datatype: first.datatype, shape, data };
  });
}

/** Splits a batch's outputs back into per-request outputs by each request's row count. */
export function splitBatch(outputs: Tensor[], rows: number[]): Tensor[][] {
  if (rows.length === 1) return [outputs];
  const result: Tensor[][] = rows.map(() => []);
  for (const output of outputs) {
    const perRow = output.shape[0] > 0 ? output.data.length / output.shape[0] : 0;
    let start = 0;
    rows.forEach((n, i) => {
      const end = start + n * perRow;
      result[i].push({
        name: output.name,
        datatype: output.datatype,
        shape: [n, ...output.shape.slice(1)],
        data: output.data.slice(start, end) as TensorData,
      });
      start = end;
    });
  }
  return result;
}

/** A key saying which requests may share a batch: same input names, datatypes and inner shapes. */
export function batchSignature(inputs: Tensor[]): string {
  return inputs.map((t) => `${t.name}:${t.datatype}:${t.shape.slice(1).join('x')}`).join('|');
}
