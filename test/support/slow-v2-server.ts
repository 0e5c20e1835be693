import { createServer, type Server } from 'node:http';

/**
 * A stand-in upstream V2 model server on loopback: one FP32 input `x` [-1, 1], echoed as
 * output `y` after `delayMs`; counts the infer calls it receives.
 */
export async function startSlowV2Server(
  delayMs: number,
): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET') {
        res.end(
          JSON.stringify({
            name: 'slow',
            versions: ['1'],
            platform: 'stub',
            inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
            outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
          }),
        );
        return;
      }
      calls++;
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        inputs: { shape: number[]; data: number[] }[];
      };
      setTimeout(
        () =>
          res.end(
            JSON.stringify({
              model_name: 'slow',
              outputs: [
                { name: 'y', datatype: 'FP32', shape: body.inputs[0].shape, data: body.inputs[0].data },
              ],
            }),
          ),
        delayMs,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls: () => calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
