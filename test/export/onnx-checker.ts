// Runs onnx.checker.check_model(full_check=True) from Debian's python3-onnx, when it is installed.
import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

export const onnxCheckerAvailable: boolean = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;

export const CHECKER_MISSING =
  'SKIPPED: python3-onnx is not installed (apt-get install -y python3-onnx), so onnx.checker.check_model did not run';

/** Returns null when the model passes, else the checker's message. */
export function checkOnnxFile(file: string): string | null {
  const script = 'import onnx, sys\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)';
  const result = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
  return result.status === 0 ? null : (result.stderr || `exit ${result.status}`).trim();
}
