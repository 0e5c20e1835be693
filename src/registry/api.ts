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

/**
 * The registry module's API as other modules use it. The registry's issue may add to it;
 * these signatures stay.
 */
export interface RegistryApi {
  /** A version by number or by alias (`production`); `latest` means the highest number. Throws 404. */
  getModelVersion(model: string, ref: number | string): Promise<ModelVersionRecord>;
}
