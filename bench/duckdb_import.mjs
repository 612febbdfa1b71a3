// bench/duckdb_import.mjs: DuckDB importing a JSONL dump, the peer of
// bench_sqlite in bench/run.sh's import section (issue 18).
//
//   DUCKDB_DIR=DIR node bench/duckdb_import.mjs DUMP WORKDIR
//
// DIR is where `npm install @duckdb/node-api` was run.
//
// DuckDB from the npm registry (@duckdb/node-api, whose platform package
// carries libduckdb). The same wiring as bench_sqlite: the raw JSON of
// each line plus columns extracted from it (id, data_id, model, reward,
// success, created_at), indexes on id, data_id and reward, into a new
// database file, in one transaction; the time runs from the start to the
// checkpoint after the commit (DuckDB's close). Prints one JSON line.
import { createRequire } from 'node:module';
import { rmSync, statSync } from 'node:fs';

const require = createRequire((process.env.DUCKDB_DIR || '.') + '/');
const { DuckDBInstance } = require('@duckdb/node-api');

const [dump, dir] = process.argv.slice(2);
if (!dump || !dir) {
    console.error('usage: duckdb_import.mjs DUMP WORKDIR');
    process.exit(2);
}
const db = `${dir}/duck-${process.pid}.duckdb`;
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
const t0 = process.hrtime.bigint();
const inst = await DuckDBInstance.create(db);
const c = await inst.connect();
await c.run('BEGIN');
await c.run(`CREATE TABLE traj AS SELECT json->>'id' AS id, json->>'data_id' AS data_id,
    json->>'model' AS model, TRY_CAST(json->>'reward' AS DOUBLE) AS reward,
    TRY_CAST(json->>'is_success' AS BOOLEAN) AS success, json->>'created_at' AS created_at,
    json AS raw
    FROM read_json_objects(${q(dump)}, format = 'newline_delimited')`);
await c.run('CREATE INDEX traj_id ON traj (id)');
await c.run('CREATE INDEX traj_group ON traj (data_id)');
await c.run('CREATE INDEX traj_reward ON traj (reward)');
await c.run('COMMIT');
const t1 = process.hrtime.bigint();
const rows = (await c.runAndReadAll('SELECT count(*) FROM traj')).getRows()[0][0];
await c.run('CHECKPOINT');
c.closeSync();
inst.closeSync();
const t2 = process.hrtime.bigint();
const bytes = statSync(db).size;
rmSync(db, { force: true });
rmSync(`${db}.wal`, { force: true });
console.log(JSON.stringify({ bench: 'duckdb', rows: Number(rows), commit_s: Number(t1 - t0) / 1e9,
                             close_s: Number(t2 - t0) / 1e9, db_bytes: bytes }));
