import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { openDatabase, migrate } from '../eventstore/database.ts';
import { createSqlEventStore, eventStoreMigrations } from '../eventstore/sql.ts';
const N = 200000;
const database = await openDatabase({ url: process.env.DATABASE_URL, schema: 'scratch_' + process.pid });
await migrate(database, eventStoreMigrations);
const store = createSqlEventStore(database);
const events = Array.from({ length: N }, (_, i) => ({ id: randomUUID(), type: 'CallRecorded', data: { callId: 'x', contractCode: 'd123456789', usingNumber: '0312345678', startDate: '2017-11-01', startTime: '201221.5', destination: '03-1234-5678', area: '東京', duration: '000106.0', count: null, extensionType: '外線', callType: '国内呼', category: 'domestic', free: false, charge: '8.00', billingMonth: '2017-11', i } }));
function* chunks() { for (let i = 0; i < N; i += 5000) yield [{ streamId: 'calls-d123456789-2017-11', events: events.slice(i, i + 5000) }]; }
let t = performance.now();
await store.appendBulk(chunks());
const s = (performance.now() - t) / 1000;
console.log(`appendBulk ${N} in ${s.toFixed(2)}s = ${Math.round(N / s)}/s`);
await sql.raw(`drop schema ${database.schema} cascade`).execute(database.db);
await database.close();
