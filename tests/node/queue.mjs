// The queue the Node clients use, from REDIS_URL, QUEUE_PREFIX and QUEUE_NAME.
import { Queue } from 'bullmq';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
export const connection = {
  host: url.hostname,
  port: Number(url.port || 6379),
  db: Number(url.pathname.slice(1) || 0),
  maxRetriesPerRequest: null,
};
export const prefix = process.env.QUEUE_PREFIX ?? 'bull';
export const name = process.env.QUEUE_NAME ?? 'ai-video';
export const openQueue = () => new Queue(name, { connection, prefix });
