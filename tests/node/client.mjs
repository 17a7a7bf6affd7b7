// Node BullMQ, as a client nobody at ai-video wrote, pointed at a live ai-video queue.
// The Rust tests (tests/tests/bullmq_clients.rs) run it and read the JSON it prints.
//
//   node client.mjs add NAME DATA_JSON [OPTS_JSON]   adds a job; prints {id}
//   node client.mjs inspect                          prints {counts, workers}
//   node client.mjs job ID                           prints {state, progress, returnvalue, failedReason, logs}
//   node client.mjs watch ID TIMEOUT_MS              prints READY, then {progress, completed} once ID completes
//
// The queue comes from REDIS_URL, QUEUE_PREFIX and QUEUE_NAME.
import { QueueEvents } from 'bullmq';
import { connection, name, openQueue, prefix } from './queue.mjs';

const [command, ...args] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');

async function add(queue) {
  const [jobName, data, opts] = args;
  const job = await queue.add(jobName, JSON.parse(data), opts ? JSON.parse(opts) : {});
  print({ id: job.id });
}

async function inspect(queue) {
  const counts = await queue.getJobCounts();
  const workers = await queue.getWorkers();
  print({ counts, workers: workers.map((w) => w.rawname ?? w.name) });
}

async function job(queue) {
  const [id] = args;
  // The state first: a job read after it was seen finished carries its result.
  const state = await queue.getJobState(id);
  const found = await queue.getJob(id);
  if (!found) {
    print({ state: 'missing' });
    return;
  }
  const logs = await queue.getJobLogs(id);
  print({
    state,
    progress: found.progress,
    returnvalue: found.returnvalue,
    failedReason: found.failedReason ?? null,
    attemptsMade: found.attemptsMade,
    logs: logs.logs,
  });
}

async function watch() {
  const [id, timeoutMs] = args;
  const events = new QueueEvents(name, { connection, prefix });
  await events.waitUntilReady();
  const progress = {};
  const completed = [];
  const done = new Promise((resolve) => {
    events.on('progress', ({ jobId, data }) => {
      (progress[jobId] ??= []).push(data);
    });
    events.on('completed', ({ jobId }) => {
      completed.push(jobId);
      if (jobId === id) resolve();
    });
  });
  // QueueEvents reads the event stream from its end: only now are events seen.
  print('READY');
  await Promise.race([done, new Promise((r) => setTimeout(r, Number(timeoutMs)))]);
  print({ progress, completed });
  await events.close();
}

const queue = openQueue();
try {
  switch (command) {
    case 'add':
      await add(queue);
      break;
    case 'inspect':
      await inspect(queue);
      break;
    case 'job':
      await job(queue);
      break;
    case 'watch':
      await watch();
      break;
    default:
      throw new Error(`unknown command ${command}`);
  }
} finally {
  await queue.close();
}
