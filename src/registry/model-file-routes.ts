import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { role } from '../kernel/access.js';
import { badRequest } from '../kernel/errors.js';
import type { RegistryConfig } from './config.js';
import { storeModelFile, uploadPrefix } from './model-files.js';
import type { RegistryService } from './registry-service.js';

const FileParams = Type.Object({
  name: Type.String(),
  upload: Type.String({ description: 'Id of the upload the file belongs to (1-64 letters, digits, _ or -)' }),
  '*': Type.String({ description: 'Path of the file inside the upload, e.g. model.json or weights.bin' }),
});

/** Uploads of a model's own files (a TF.js folder, an ONNX file) into the artifact store. */
export function modelFileRoutes(service: RegistryService, config: RegistryConfig): FastifyPluginAsync {
  return async (app) => {
    // The bytes are stored as sent; weights are far larger than the JSON body limit.
    app.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: config.models.maxFileBytes },
      (_request, body, done) => done(null, body),
    );
    app.put(
      '/models/:name/uploads/:upload/*',
      {
        config: role('operator'),
        schema: {
          tags: ['models'],
          summary:
            'Store one file of a model (Content-Type: application/octet-stream); register a version on the upload folder',
          params: FileParams,
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body))
          throw badRequest(
            'invalid_content_type',
            'send the file as the request body with Content-Type: application/octet-stream',
          );
        const params = request.params as { name: string; upload: string; '*': string };
        const stored = await storeModelFile(service.artifacts, service.models, {
          model: params.name,
          upload: params.upload,
          path: params['*'],
          data: new Uint8Array(request.body),
        });
        return reply
          .status(201)
          .send({ ...stored, folder: service.artifacts.uri(uploadPrefix(params.name, params.upload)) });
      },
    );
  };
}
