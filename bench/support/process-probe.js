// Loaded with `node --import` into every process a benchmark measures (its own roles and the
// aimesh CLI alike), so the bench learns a server's CPU time and profiles its measured load
// without the server's code knowing: it answers on the IPC channel the bench opened.
//   'cpu'                                 -> { cpu: process.cpuUsage() }
//   { profile: 'start' }                  -> starts V8's sampling profiler (BENCH_PROFILE_DIR set)
//   { profile: 'stop', requests, label }  -> writes <label>.cpuprofile and <label>.json, -> { profiled: true }
// Plain JavaScript: it runs before tsx is registered in the aimesh CLI.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

if (process.send) {
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  });
  // The bench gone (crashed, interrupted) must not leave servers behind: stop as on SIGTERM,
  // which every role handles (aimesh drains and exits).
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

const profileDir = process.env.BENCH_PROFILE_DIR;
if (profileDir && process.send) {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 100 µs between samples: ~10 per proxied call even on a fast spell.
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  mkdirSync(profileDir, { recursive: true });
  process.on('message', async (m) => {
    if (m?.profile === 'start') await session.post('Profiler.start');
    if (m?.profile !== 'stop') return;
    const { profile } = await session.post('Profiler.stop');
    const file = join(profileDir, String(m.label));
    writeFileSync(`${file}.cpuprofile`, JSON.stringify(profile));
    writeFileSync(`${file}.json`, JSON.stringify({ requests: m.requests }));
    process.send?.({ profiled: true });
  });
}
