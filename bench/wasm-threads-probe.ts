// Tries tfjs's threaded wasm build under Node (2 threads) and prints one line saying what happened.
// Run in its own process by bench/train-backends.ts: a failed init leaves the wasm backend unusable.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

// tfjs turns threads off under Node (WASM_HAS_MULTITHREAD_SUPPORT is false there); force it on.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
setThreadsCount(2);
const timer = setTimeout(() => {
  console.log('unavailable: the threaded wasm backend did not initialise within 60 s');
  process.exit(0);
}, 60_000);
let line: string;
try {
  const ok = await tf.setBackend('wasm');
  line = ok ? `initialised with ${getThreadsCount()} threads` : 'unavailable: tf.setBackend("wasm") returned false with threads forced on';
} catch (error) {
  line = `unavailable: ${(error as Error).message}`;
}
clearTimeout(timer);
// tfjs logs the underlying error (the worker's blob: URL is refused by Node's Worker) on stderr.
console.log(line);
process.exit(0);
