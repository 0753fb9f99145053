/**
 * One measured task in its own process, so peak RSS is its own:
 *   generate <rows> <start> <end> <file>    generate rows start..end of the benchmark table to a file
 *   serialize <rows> <start> <end>          the same without a file: generation and CSV bytes only
 *   ceiling <rows> <file> <writer>           write `rows` precomputed rows with csv-stringify or the joiner
 * Prints one JSON line: { seconds, rows, bytes, peakRssMb }.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify';

import { csvLine } from '../activities/storage/csv-cells';
import { generateTableChunks, generateTableText, writeTableFile } from '../activities/synth/generate';
import { benchmarkSpec } from './synth-spec';

const PRECOMPUTED_ROWS = 100_000;

async function main(): Promise<void> {
  const [task, rowsText, ...rest] = process.argv.slice(2);
  const rows = Number(rowsText);
  const spec = benchmarkSpec(rows);
  const started = process.hrtime.bigint();
  let bytes = 0;
  let measuredRows = 0;
  if (task === 'generate') {
    const [start, end, file] = [Number(rest[0]), Number(rest[1]), rest[2]!];
    bytes = (await writeTableFile(spec, 'messages', file, { format: 'csv', start, end, header: start === 0 })).bytes;
    measuredRows = end - start;
  } else if (task === 'serialize') {
    const [start, end] = [Number(rest[0]), Number(rest[1])];
    for (const chunk of generateTableChunks(spec, 'messages', { format: 'csv', start, end, header: start === 0 })) bytes += chunk.length;
    measuredRows = end - start;
  } else if (task === 'ceiling') {
    const [file, writer] = [rest[0]!, rest[1]!];
    // The same rows, generated before the clock starts: only serialising and writing is measured.
    const sample = parse(generateTableText(benchmarkSpec(PRECOMPUTED_ROWS), 'messages', { format: 'csv' }), { delimiter: ',' }) as string[][];
    const records = sample.slice(1);
    const begin = process.hrtime.bigint();
    function* rowsToWrite(): Generator<string[]> {
      for (let i = 0; i < rows; i++) yield records[i % records.length]!;
    }
    const out = createWriteStream(file);
    if (writer === 'csv-stringify') {
      await pipeline(Readable.from(rowsToWrite()), stringify({ delimiter: ',' }), out);
    } else {
      await pipeline(
        Readable.from(
          (function* blocks(): Generator<string> {
            let text = '';
            let count = 0;
            for (const row of rowsToWrite()) {
              text += csvLine(row, ',');
              if (++count % 4096 === 0) {
                yield text;
                text = '';
              }
            }
            if (text) yield text;
          })(),
        ),
        out,
      );
    }
    bytes = out.bytesWritten;
    measuredRows = rows;
    const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
    console.log(JSON.stringify({ seconds, rows: measuredRows, bytes, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
    return;
  } else throw new Error(`unknown task ${task}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ seconds, rows: measuredRows, bytes, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

void main();
