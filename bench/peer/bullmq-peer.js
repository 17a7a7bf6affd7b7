// BullMQ's side of ai-video's queue benchmark, run against the same private Redis.
//
//   node bullmq-peer.js fill  --port P --queue Q --n N [--priorities]
//   node bullmq-peer.js drain --port P --queue Q --n N --concurrency C
//   node bullmq-peer.js work  --port P --queue Q --n N --concurrency C   (prints READY, then waits)
//   node bullmq-peer.js pace  --port P --queue Q --n N --interval-ms MS
//
// Every job carries {i, t} where t is the wall clock (ms, sub-ms resolution) when it
// was added. Each command prints one JSON line with its measurements.
const { Queue, Worker } = require('bullmq');

const argv = process.argv.slice(2);
const command = argv[0];
const opt = (name, dflt) => {
  const i = argv.indexOf('--' + name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes('--' + name);
const connection = { host: '127.0.0.1', port: Number(opt('port', '6379')) };
const queueName = opt('queue', 'peer');
const n = Number(opt('n', '20000'));
const clock = () => performance.timeOrigin + performance.now();

function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
}

async function fill() {
  const queue = new Queue(queueName, { connection });
  const started = clock();
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let k = i; k < Math.min(n, i + 1000); k++) {
      const opts = { attempts: 3, backoff: { type: 'exponential', delay: 2000 } };
      if (flag('priorities')) opts.priority = 1 + Math.floor(Math.random() * 10);
      jobs.push({ name: 'noop', data: { i: k, t: clock() }, opts });
    }
    await queue.addBulk(jobs);
  }
  const seconds = (clock() - started) / 1000;
  console.log(JSON.stringify({ command, n, seconds, jobs_per_s: n / seconds }));
  await queue.close();
}

// Runs a no-op worker until n jobs completed; reports throughput and enqueue→start latency.
async function work(announce) {
  const concurrency = Number(opt('concurrency', '1'));
  const waits = [];
  let firstStart = null;
  let completed = 0;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  const worker = new Worker(
    queueName,
    async (job) => {
      const now = clock();
      if (firstStart === null) firstStart = now;
      waits.push(now - job.data.t);
      return 1;
    },
    { connection, concurrency, autorun: false },
  );
  worker.on('completed', () => {
    completed += 1;
    if (completed >= n) finish(clock());
  });
  await worker.waitUntilReady();
  worker.run();
  if (announce) console.log('READY');
  const last = await done;
  const seconds = (last - firstStart) / 1000;
  console.log(JSON.stringify({
    command, n, concurrency, seconds, jobs_per_s: n / seconds,
    latency_p50_ms: percentile(waits, 50), latency_p99_ms: percentile(waits, 99),
    rss_mb: process.memoryUsage().rss / 1048576,
  }));
  await worker.close(true);
}

async function pace() {
  const queue = new Queue(queueName, { connection });
  const interval = Number(opt('interval-ms', '5'));
  const start = clock();
  for (let k = 0; k < n; k++) {
    const wait = start + k * interval - clock();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await queue.add('noop', { i: k, t: clock() });
  }
  console.log(JSON.stringify({ command, n, interval_ms: interval }));
  await queue.close();
}

const commands = { fill, drain: () => work(false), work: () => work(true), pace };
if (!commands[command]) {
  console.error('usage: node bullmq-peer.js fill|drain|work|pace --port P --queue Q --n N ...');
  process.exit(2);
}
commands[command]().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
