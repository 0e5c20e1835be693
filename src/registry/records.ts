/** The registry's records as other modules and the registry's own parts see them. */

/** A model version as the registry records it. */
export interface ModelVersionRecord {
  /** Registered model name, e.g. `iris-classifier`. */
  model: string;
  /** 1, 2, 3, ... numbered by the registry. */
  version: number;
  /** The model's type/task, e.g. `classification`, `sentiment`. */
  type: string;
  /** Runtime format of the main artifact. */
  format: 'tfjs' | 'onnx' | string;
  /** Where the artifact lives (`artifact://models/iris/3/`); for tfjs a folder with model.json, for onnx a .onnx file. */
  artifactUri: string;
  /** Further formats of the same model, e.g. an ONNX export next to the TF.js original. */
  artifacts?: { format: string; uri: string }[];
  metrics: Record<string, number>;
  params: Record<string, unknown>;
  status: string;
  /** Aliases currently pointing at this version (`production`, `staging`, ...). */
  aliases: string[];
  createdAt: string;
}

/** A registered model: a name, its task, and the count of its versions. */
export interface ModelRecord {
  name: string;
  type: string;
  description: string;
  tags: Record<string, string>;
  latestVersion: number;
  aliases: Record<string, number>;
  createdBy: string;
  createdAt: string;
}

/** A model version with where it came from, as the registry stores it. */
export interface StoredModelVersion extends ModelVersionRecord {
  runId: string | null;
  experimentId: string | null;
  dataset: string | null;
  datasetVersion: string | null;
  createdBy: string;
}

/** What creating a version takes; the number is assigned by the registry. */
export interface NewModelVersion {
  model: string;
  format: string;
  artifactUri: string;
  artifacts?: { format: string; uri: string }[];
  metrics?: Record<string, number>;
  params?: Record<string, unknown>;
  runId?: string;
  experimentId?: string;
  dataset?: string;
  datasetVersion?: string;
  status?: string;
  createdBy: string;
  createdAt: Date;
}
