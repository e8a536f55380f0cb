// The README quickstart of the official Milvus Node SDK (@zilliz/milvus2-sdk-node), checked step by step.
//
//   node tests/node/quickstart.mjs [ADDRESS [TOKEN]]
//
// ADDRESS (or MILVUS_ADDRESS; default 127.0.0.1:19530) is a Milvus gRPC endpoint such as
// `embedb serve DATA --milvus-port 19530`; TOKEN (or MILVUS_TOKEN) is an EmbeDB API token.
// Each step is the README's call; what it answers is checked, and any error status or
// mismatch exits 1 naming the step. On success it prints one line starting "node quickstart ok".
import { DataType, ErrorCode, MetricType, MilvusClient } from '@zilliz/milvus2-sdk-node';

const address = process.argv[2] || process.env.MILVUS_ADDRESS || '127.0.0.1:19530';
const token = process.argv[3] || process.env.MILVUS_TOKEN || undefined;
const DIM = 8;
const ROWS = 6;
const collection_name = `node_quickstart_${process.pid}_${Date.now()}`;

class Mismatch extends Error {}

let step = 'connect';

function check(condition, message) {
  if (!condition) {
    throw new Mismatch(message);
  }
}

// A reply's status: a bare ResStatus or { status: ResStatus, ... }.
function ok(reply, what = step) {
  const status = reply && reply.error_code !== undefined ? reply : reply && reply.status;
  check(status, `${what}: the reply has no status: ${JSON.stringify(reply)}`);
  check(
    status.error_code === ErrorCode.SUCCESS && !(Number(status.code) > 0),
    `${what}: the server answered ${status.error_code} (code ${status.code}): ${status.reason}`
  );
  return reply;
}

// Row i's vector: a one-hot direction with a small ramp, so every row has its own nearest neighbour under COSINE.
function vectorOf(i) {
  return Array.from({ length: DIM }, (_, j) => (j === i % DIM ? 1 : 0) + 0.01 * (j + 1));
}

const client = new MilvusClient({ address, token });

async function main() {
  await client.connectPromise;

  // 1. Create collection with schema (and index params: the SDK creates the index and loads).
  step = 'createCollection';
  ok(
    await client.createCollection({
      collection_name,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: true },
        { name: 'text', data_type: DataType.VarChar, max_length: 512 },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
      index_params: [
        {
          field_name: 'vector',
          index_type: 'HNSW',
          metric_type: MetricType.COSINE,
          params: { M: 16, efConstruction: 256 },
        },
      ],
      enable_dynamic_field: true,
    })
  );
  step = 'hasCollection';
  check(ok(await client.hasCollection({ collection_name })).value === true, `${step}: the new collection is not there`);
  step = 'describeCollection';
  const described = ok(await client.describeCollection({ collection_name }));
  const fieldNames = described.schema.fields.map(field => field.name);
  for (const name of ['id', 'text', 'vector']) {
    check(fieldNames.includes(name), `${step}: field ${name} missing from ${JSON.stringify(fieldNames)}`);
  }

  // 2. Load into memory (required before search/query).
  step = 'loadCollectionSync';
  ok(await client.loadCollectionSync({ collection_name }));

  // 3. Insert data (autoID: the server assigns the ids; "group" is a dynamic field).
  step = 'insert';
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    vector: vectorOf(i),
    text: `doc${i}`,
    group: i % 2 === 0 ? 'even' : 'odd',
  }));
  const inserted = ok(await client.insert({ collection_name, data: rows }));
  check(Number(inserted.insert_cnt) === ROWS, `${step}: insert_cnt ${inserted.insert_cnt}, expected ${ROWS}`);
  const ids = (inserted.IDs.int_id && inserted.IDs.int_id.data) || [];
  check(ids.length === ROWS, `${step}: ${ids.length} ids in the reply, expected ${ROWS}: ${JSON.stringify(inserted.IDs)}`);
  check(new Set(ids.map(String)).size === ROWS, `${step}: the assigned ids are not distinct: ${ids}`);
  const idOf = i => String(ids[i]);

  // 4. Search: the nearest row to row 2's vector is row 2. As against Milvus, a hit carries the
  // primary key only when output_fields names it (SDK 3.x reads every value from fields_data).
  step = 'search';
  const found = ok(
    await client.search({
      collection_name,
      data: [vectorOf(2)],
      limit: 3,
      consistency_level: 'Strong',
      output_fields: ['text'],
    })
  );
  check(found.results.length === 3, `${step}: ${found.results.length} hits, expected 3: ${JSON.stringify(found.results)}`);
  const top = found.results[0];
  check(top.text === 'doc2', `${step}: top hit's text ${JSON.stringify(top.text)}, expected "doc2" (row 2)`);
  check(Math.abs(top.score - 1) < 1e-4, `${step}: top hit's COSINE score ${top.score}, expected 1`);
  for (let k = 1; k < found.results.length; k++) {
    check(found.results[k].score <= found.results[k - 1].score, `${step}: scores not in descending order`);
  }

  // Search with a filter on a dynamic field and output fields: only odd rows, nearest first.
  step = 'search with filter';
  const filtered = ok(
    await client.search({
      collection_name,
      data: [vectorOf(2)],
      limit: 10,
      filter: 'group == "odd"',
      output_fields: ['id', 'text', 'group'],
    })
  );
  const hits = filtered.results.map(hit => `${hit.id}:${hit.text}`).sort();
  const odd = [1, 3, 5].map(i => `${idOf(i)}:doc${i}`).sort();
  check(JSON.stringify(hits) === JSON.stringify(odd), `${step}: hits ${JSON.stringify(hits)}, expected ${JSON.stringify(odd)}`);
  check(filtered.results.every(hit => hit.group === 'odd'), `${step}: a hit outside the filter: ${JSON.stringify(filtered.results)}`);

  // Query with a filter.
  step = 'query';
  const queried = ok(
    await client.query({
      collection_name,
      filter: 'text in ["doc0", "doc4"]',
      output_fields: ['id', 'text', 'group'],
    })
  );
  // query names its columns from fields_data: dynamic keys come back inside the "$meta" object.
  const groupOf = row => (row.group !== undefined ? row.group : (row.$meta || {}).group);
  const queriedRows = queried.data.map(row => `${row.id}:${row.text}:${groupOf(row)}`).sort();
  const expectedRows = [`${idOf(0)}:doc0:even`, `${idOf(4)}:doc4:even`].sort();
  check(
    JSON.stringify(queriedRows) === JSON.stringify(expectedRows),
    `${step}: rows ${JSON.stringify(queried.data)}, expected ${JSON.stringify(expectedRows)}`
  );

  // Get by primary key, with the vector.
  step = 'get';
  const got = ok(await client.get({ collection_name, ids: [ids[3]], output_fields: ['text', 'vector'] }));
  check(got.data.length === 1, `${step}: ${got.data.length} rows, expected 1: ${JSON.stringify(got.data)}`);
  check(got.data[0].text === 'doc3', `${step}: text ${JSON.stringify(got.data[0].text)}, expected "doc3"`);
  const vector = got.data[0].vector || [];
  check(
    vector.length === DIM && vector.every((x, j) => Math.abs(x - vectorOf(3)[j]) < 1e-6),
    `${step}: vector ${JSON.stringify(vector)}, expected ${JSON.stringify(vectorOf(3))}`
  );

  // Count, delete by ids and by filter, count again.
  step = 'count';
  let counted = ok(await client.count({ collection_name }));
  check(Number(counted.data) === ROWS, `${step}: ${counted.data} rows, expected ${ROWS}`);
  step = 'delete by ids';
  const deleted = ok(await client.delete({ collection_name, ids: [ids[0], ids[1]] }));
  check(Number(deleted.delete_cnt) === 2, `${step}: delete_cnt ${deleted.delete_cnt}, expected 2`);
  step = 'delete by filter';
  const deletedByFilter = ok(await client.delete({ collection_name, filter: 'text == "doc5"' }));
  check(Number(deletedByFilter.delete_cnt) === 1, `${step}: delete_cnt ${deletedByFilter.delete_cnt}, expected 1`);
  step = 'count after delete';
  counted = ok(await client.count({ collection_name }));
  check(Number(counted.data) === ROWS - 3, `${step}: ${counted.data} rows, expected ${ROWS - 3}`);
  step = 'get after delete';
  const gone = ok(await client.get({ collection_name, ids: [ids[0]], output_fields: ['text'] }));
  check(gone.data.length === 0, `${step}: a deleted row is still returned: ${JSON.stringify(gone.data)}`);
  step = 'count with filter';
  counted = ok(await client.count({ collection_name, filter: 'group == "even"' }));
  check(Number(counted.data) === 2, `${step}: ${counted.data} even rows, expected 2`);

  // Drop the collection.
  step = 'dropCollection';
  ok(await client.dropCollection({ collection_name }));
  check(ok(await client.hasCollection({ collection_name })).value === false, `${step}: the collection is still there`);

  console.log(
    `node quickstart ok: @zilliz/milvus2-sdk-node ${MilvusClient.sdkInfo.version} against ${address}: ` +
      `createCollection+index, load, insert ${ROWS}, search, filtered search, query, get, delete ${3}, count ${ROWS - 3}, drop`
  );
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  exitCode = 1;
  if (error instanceof Mismatch) {
    console.error(`node quickstart FAILED at ${step}: ${error.message}`);
  } else {
    const detail = error && error.error_code !== undefined ? JSON.stringify(error) : (error && error.stack) || String(error);
    console.error(`node quickstart FAILED at ${step}: ${detail}`);
  }
  try {
    await client.dropCollection({ collection_name });
  } catch {
    // best effort: the server may be the thing that failed
  }
}
try {
  await client.closeConnection();
} catch {
  // closing never decides the outcome
}
process.exit(exitCode);
