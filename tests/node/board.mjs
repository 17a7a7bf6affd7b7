// bull-board (the BullMQ dashboard) serving ai-video's queue, as an operator would
// run it (docs/operations.md). Listens on 127.0.0.1 on a free port and prints
// {"port": N}; the tests then use its HTTP API as its web page does.
//
// The queue comes from REDIS_URL, QUEUE_PREFIX and QUEUE_NAME.
import express from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { openQueue } from './queue.mjs';

const queue = openQueue();

const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath('/');
createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter });

const app = express();
app.use('/', serverAdapter.getRouter());
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const stop = async () => {
  server.close();
  await queue.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
