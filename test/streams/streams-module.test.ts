import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { signature } from '../../src/streams/webhooks.js';
import { adminHeaders, startTestAimesh } from '../support/aimesh.js';
import { tempModelsDir } from '../support/inference.js';
import { denseModel, tfjsFiles } from '../support/models.js';
import { until } from '../support/until.js';

const SECRET = 'webhook-secret-0123456789';

/**
 * The streams module in a whole process: the ai-system group's handlers, auto-deploy through the
 * registry's promotion to the model server, alerts as events and signed webhooks, the explorer.
 */
describe('event processing in a running aimesh', () => {
  let aimesh: RunningAimesh;
  let hookServer: Server;
  let modelServer: string;
  const hooks: { body: string; signature: string | undefined }[] = [];
  const failing: string[] = [];

  const api = async (method: string, path: string, body?: unknown, headers = adminHeaders()) => {
    const response = await fetch(new URL(path, aimesh.url), {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const append = (event: Record<string, unknown>) =>
    api('POST', '/api/v1/events', { source: '/test', ...event });
  const servedVersion = async () => {
    // The version that answers an inference without a version: the one the alias names.
    const response = await fetch(new URL('/v2/models/churn/infer', modelServer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
    });
    return response.ok
      ? String(((await response.json()) as { model_version: unknown }).model_version)
      : undefined;
  };
  const hookBase = () => `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`;
  const evaluation = async (eventId: string) => {
    const rows = await aimesh.db.query<{ promoted: boolean; reason: string }>(
      'SELECT promoted, reason FROM aimesh_stream_evaluations WHERE event_id = $1',
      [eventId],
    );
    return rows.rows[0];
  };

  beforeAll(async () => {
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        // /broken always fails (retried), /gone answers 410 (not retried).
        if (req.url !== '/hook') {
          failing.push(`${req.url} ${req.headers['x-aimesh-delivery-attempt']}`);
          res.statusCode = req.url === '/gone' ? 410 : 500;
          res.end();
          return;
        }
        hooks.push({ body, signature: req.headers['x-aimesh-signature'] as string | undefined });
        // The first delivery fails: the retry must bring it.
        res.statusCode = hooks.length === 1 ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    aimesh = await startTestAimesh({
      targets: ['streams', 'registry', 'inference'],
      config: {
        registry: { promotion: { rules: [{ metric: 'accuracy', greaterThan: 0.8 }] } },
        inference: {
          followAliases: [],
          server: { port: 0 },
          modelsDir: tempModelsDir(),
          models: [{ model: 'churn', ref: 'production' }],
          loadRetryMs: 200,
        },
        events: { relay: { pollIntervalMs: 20 } },
        streams: {
          retryDelayMs: 10,
          windows: { commitIntervalMs: 20 },
          webhooks: [
            {
              url: `${hookBase()}/hook`,
              secret: SECRET,
              maxAttempts: 3,
            },
            { url: `${hookBase()}/broken`, secret: SECRET, maxAttempts: 2 },
            { url: `${hookBase()}/gone`, secret: SECRET, maxAttempts: 3 },
          ],
        },
      },
    });
    modelServer = (await api('GET', '/api/v1/inference/models')).body.url;
    for (const version of [1, 2, 3, 4]) {
      for (const [name, data] of Object.entries(await tfjsFiles(denseModel(3, [[2, 'softmax']], version))))
        await aimesh.artifacts.put(`models/churn/${version}/${name}`, data);
    }
    expect((await api('POST', '/api/v1/models', { name: 'churn', type: 'classification' })).status).toBe(201);
    for (const [version, accuracy] of [
      [1, 0.85],
      [2, 0.97],
      [3, 0.97],
      // Registered below the promotion rule (accuracy > 0.8): only its evaluation can lift it.
      [4, 0.5],
    ]) {
      const created = await api('POST', '/api/v1/models/churn/versions', {
        format: 'tfjs',
        artifactUri: `artifact://models/churn/${version}/`,
        metrics: { accuracy },
      });
      expect(created.status).toBe(201);
    }
    expect((await api('PUT', '/api/v1/models/churn/aliases/production', { version: 1 })).status).toBe(200);
    await until(async () => (await servedVersion()) === '1', 20_000, 'churn v1 served');
  }, 90_000);

  afterAll(async () => {
    await aimesh?.stop();
    await new Promise((r) => hookServer?.close(r));
  });

  it('auto-deploys an evaluation with accuracy 0.97 and improvement 0.12: promoted, then served', async () => {
    expect(
      (
        await append({
          id: 'eval-v2',
          type: 'ai.evaluation.completed',
          data: { model: 'churn', version: 2, accuracy: 0.97 },
        })
      ).status,
    ).toBe(201);
    await until(async () => (await evaluation('eval-v2')) !== undefined, 10_000, 'the evaluation recorded');
    expect(await evaluation('eval-v2')).toEqual({ promoted: true, reason: 'promoted to production (was 1)' });
    const promoted = await api('GET', '/api/v1/events?type=ai.model.promoted');
    expect(promoted.body.events.at(-1)).toMatchObject({
      causationid: 'eval-v2',
      data: { model: 'churn', version: 2 },
    });
    await until(async () => (await servedVersion()) === '2', 20_000, 'churn v2 served');
  }, 60_000);

  it('does not promote an improvement of 0.05, and records why', async () => {
    await append({
      id: 'eval-v3',
      type: 'ai.evaluation.completed',
      data: { model: 'churn', version: 3, accuracy: 0.97, improvement: 0.05 },
    });
    await until(async () => (await evaluation('eval-v3')) !== undefined, 10_000, 'the evaluation recorded');
    expect(await evaluation('eval-v3')).toEqual({
      promoted: false,
      reason: 'improvement 0.05 over production is not above 0.1',
    });
    expect((await api('GET', '/api/v1/models/churn/versions/production')).body).toMatchObject({ version: 2 });
  });

  it("records an evaluation's metrics on the model version before deciding, so promotion rules judge them", async () => {
    await append({
      id: 'eval-v4',
      type: 'ai.evaluation.completed',
      data: {
        model: 'churn',
        version: 4,
        accuracy: 0.99,
        improvement: 0.2,
        metrics: { f1: 0.93, auc: 0.98 },
      },
    });
    await until(async () => (await evaluation('eval-v4')) !== undefined, 10_000, 'the evaluation recorded');
    const v4 = await api('GET', '/api/v1/models/churn/versions/4');
    expect(v4.body.metrics).toEqual({ accuracy: 0.99, f1: 0.93, auc: 0.98 });
    // Registered at 0.5, the rule would have refused it: the promotion saw the recorded 0.99.
    expect(await evaluation('eval-v4')).toEqual({ promoted: true, reason: 'promoted to production (was 2)' });
    expect((await api('GET', '/api/v1/models/churn/versions/3')).body.metrics).toEqual({ accuracy: 0.97 });
    const unknown = await append({
      id: 'eval-v9',
      type: 'ai.evaluation.completed',
      data: { model: 'churn', version: 9, accuracy: 0.99 },
    });
    expect(unknown.status).toBe(201);
    await until(async () => (await evaluation('eval-v9')) !== undefined, 10_000, 'the evaluation recorded');
    expect(await evaluation('eval-v9')).toEqual({
      promoted: false,
      reason: 'the registry refused the metrics: model churn has no version 9',
    });
  }, 30_000);

  it('follows a slow inference with a metrics event and an alert caused by it, and a signed webhook', async () => {
    await append({
      id: 'slow-call',
      type: 'ai.inference.completed',
      correlationid: 'req-1',
      data: { modelId: 'churn', userId: 'ada', latencyMs: 1_500 },
    });
    await until(
      async () => (await api('GET', '/api/v1/events?causationId=slow-call')).body.events.length === 2,
      10_000,
      'the follow-up events',
    );
    const tree = await api('GET', '/api/v1/streams/events/slow-call/causation');
    expect(tree.status).toBe(200);
    expect(tree.body.root.event.id).toBe('slow-call');
    expect(tree.body.root.children.map((c: { event: { type: string } }) => c.event.type).sort()).toEqual([
      'ai.alert.raised',
      'ai.inference.metrics',
    ]);
    const correlation = await api('GET', '/api/v1/streams/correlations/req-1');
    expect(correlation.body.events.map((e: { id: string }) => e.id)[0]).toBe('slow-call');
    expect(correlation.body.events).toHaveLength(3);
    expect(
      await aimesh.db.query('SELECT * FROM aimesh_stream_inference_metrics WHERE event_id = $1', [
        'slow-call',
      ]),
    ).toMatchObject({
      rows: [expect.objectContaining({ model_id: 'churn', latency_ms: 1_500 })],
    });
    // The alert's webhook: refused once, delivered by the retry, signed both times.
    await until(async () => hooks.length >= 2, 15_000, 'the webhook retried');
    const delivered = hooks[1];
    expect(delivered.signature).toBe(signature(SECRET, delivered.body));
    expect(JSON.parse(delivered.body)).toMatchObject({
      type: 'ai.alert.raised',
      causationid: 'slow-call',
      data: { alert: 'high_latency' },
    });
    const metrics = await (await fetch(new URL('/metrics', aimesh.url))).text();
    expect(metrics).toMatch(/aimesh_webhook_deliveries_total\{url="[^"]+",outcome="retry"\} 1/);
    expect(metrics).toMatch(/aimesh_consumer_processed_total\{group="ai-system"\} \d+/);
  }, 60_000);

  it('lists failed webhook deliveries with the attempts each made', async () => {
    const listed = async () =>
      (await api('GET', '/api/v1/streams/webhooks/failures')).body as {
        failures: { url: string; eventId: string; attempts: number; error: string }[];
      };
    // The slow call's alert also went to /broken (500 on each of its 2 attempts) and /gone (410, final).
    await until(async () => (await listed()).failures.length >= 2, 15_000, 'both failures recorded');
    const failures = (await listed()).failures;
    expect(failures.find((f) => f.url.endsWith('/broken'))).toMatchObject({ attempts: 2, error: 'HTTP 500' });
    expect(failures.find((f) => f.url.endsWith('/gone'))).toMatchObject({ attempts: 1, error: 'HTTP 410' });
    expect(failing.filter((f) => f.startsWith('/gone'))).toEqual(['/gone 1']);
    expect(failing.filter((f) => f.startsWith('/broken')).sort()).toEqual(['/broken 1', '/broken 2']);
    const gone = await api(
      'GET',
      `/api/v1/streams/webhooks/failures?url=${encodeURIComponent(`${hookBase()}/gone`)}`,
    );
    expect(gone.body.failures).toHaveLength(1);
    const metrics = await (await fetch(new URL('/metrics', aimesh.url))).text();
    expect(metrics).toMatch(/aimesh_webhook_failed_attempts_total\{url="[^"]+\/broken"\} 2/);
    expect(metrics).toMatch(/aimesh_webhook_failed_attempts_total\{url="[^"]+\/gone"\} 1/);
    const bad = await api('GET', '/api/v1/streams/webhooks/failures?limit=0');
    expect(bad).toMatchObject({ status: 400 });
  }, 30_000);

  it('answers bad explorer input with 4xx and the common error shape', async () => {
    const window = await api('GET', '/api/v1/streams/windows?from=not-a-time');
    expect(window.status).toBe(400);
    expect(window.body.error.code).toBe('invalid_range');
    const replay = await api('POST', '/api/v1/streams/replays', {
      from: '2026-01-02T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
      consumer: 'audit',
    });
    expect(replay).toMatchObject({ status: 400, body: { error: { code: 'invalid_range' } } });
    const missing = await api('GET', '/api/v1/streams/events/nope/causation');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'event_not_found' } } });
    const badName = await api('POST', '/api/v1/streams/replays', {
      from: 'a',
      to: 'b',
      consumer: 'no spaces',
    });
    expect(badName.status).toBe(400);
  });

  it('replays a time range to a named consumer group', async () => {
    const replay = await api('POST', '/api/v1/streams/replays', {
      from: '2000-01-01T00:00:00Z',
      to: '2100-01-01T00:00:00Z',
      consumer: 'audit',
      type: 'ai.evaluation.completed',
    });
    expect(replay).toMatchObject({
      status: 202,
      body: { consumer: 'audit', published: 4, truncated: false },
    });
  });
});
