// A small reader for this project's Dockerfile: instructions grouped by stage, with the settings a
// target image ends up with (ENV, USER, ENTRYPOINT, CMD, ...) inherited along its FROM chain.
// It covers the syntax the Dockerfile uses (line continuations, JSON and shell forms, key=value ENV);
// it is not a general BuildKit parser.

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | null;
  /** Image or earlier stage named in FROM. */
  from: string;
  instructions: Instruction[];
}

export interface TargetConfig {
  /** The external image at the root of the FROM chain. */
  baseImage: string;
  /** Stage names from the root of the chain to the target. */
  chain: string[];
  env: Record<string, string>;
  user: string | null;
  workdir: string | null;
  entrypoint: string[];
  cmd: string[];
  healthcheck: { options: Record<string, string>; command: string[] } | null;
  expose: string[];
  stopsignal: string | null;
}

/** Joins `\` continuations, drops comments and blank lines. */
export function readInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let buffer = '';
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && buffer === '')) continue;
    if (buffer === '') startLine = i + 1;
    const continued = /\\\s*$/.test(raw);
    buffer += (buffer === '' ? '' : ' ') + (continued ? raw.replace(/\\\s*$/, '') : raw).trim();
    if (continued) continue;
    const match = /^(\S+)\s*(.*)$/.exec(buffer);
    if (match) out.push({ keyword: match[1].toUpperCase(), args: match[2].trim(), line: startLine });
    buffer = '';
  }
  if (buffer !== '') throw new Error(`Dockerfile ends inside a line continuation (line ${startLine})`);
  return out;
}

export function readStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of readInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const asIndex = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ from: words[0], name: asIndex >= 0 ? words[asIndex + 1] : null, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (instruction.keyword === 'ARG') continue;
      throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
    }
    stages[stages.length - 1].instructions.push(instruction);
  }
  return stages;
}

/** Exec form (JSON array) or shell form (wrapped in /bin/sh -c, as Docker does). */
export function commandWords(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) {
      throw new Error(`not a JSON array of strings: ${args}`);
    }
    return parsed;
  }
  return ['/bin/sh', '-c', args];
}

/** Shell-like words: whitespace separated, double/single quotes grouped and removed. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of text.matchAll(pattern)) {
    words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? match[3]));
  }
  return words;
}

/** `ENV A=1 B="two words"` (and the legacy `ENV A value`). */
export function parseEnv(args: string): Record<string, string> {
  const firstWord = /^\S+/.exec(args)?.[0] ?? '';
  if (!firstWord.includes('=')) {
    return { [firstWord]: args.slice(firstWord.length).trim() };
  }
  const env: Record<string, string> = {};
  const pattern = /([A-Za-z_][A-Za-z0-9_]*)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  for (const match of args.matchAll(pattern)) {
    env[match[1]] = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : (match[4] ?? match[5] ?? '');
  }
  return env;
}

export function parseHealthcheck(args: string): { options: Record<string, string>; command: string[] } | null {
  if (args.toUpperCase() === 'NONE') return null;
  const cmdAt = args.search(/\bCMD\b/);
  if (cmdAt < 0) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  const options: Record<string, string> = {};
  for (const match of args.slice(0, cmdAt).matchAll(/--([a-z-]+)=(\S+)/g)) options[match[1]] = match[2];
  return { options, command: commandWords(args.slice(cmdAt + 3).trim()) };
}

export interface CopyInstruction {
  from: string | null;
  chown: string | null;
  sources: string[];
  destination: string;
}

export function parseCopy(args: string): CopyInstruction {
  const words = shellWords(args);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3) ?? null;
  if (paths.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { from: flag('from'), chown: flag('chown'), sources: paths.slice(0, -1), destination: paths[paths.length - 1] };
}

export function stageByName(stages: Stage[], name: string): Stage {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage named ${name}`);
  return stage;
}

/** The stages a target is built from, root first. */
export function stageChain(stages: Stage[], target: string): Stage[] {
  const chain: Stage[] = [];
  for (let stage: Stage | undefined = stageByName(stages, target); stage; ) {
    chain.unshift(stage);
    const parentName: string = stage.from;
    const before: number = stages.indexOf(stage);
    stage = stages.find((s, index) => s.name === parentName && index < before);
  }
  return chain;
}

/** Settings of the image a target produces (ignoring what the external base image sets itself). */
export function targetConfig(stages: Stage[], target: string): TargetConfig {
  const chain = stageChain(stages, target);
  const config: TargetConfig = {
    baseImage: chain[0].from,
    chain: chain.map((s) => s.name ?? '(unnamed)'),
    env: {},
    user: null,
    workdir: null,
    entrypoint: [],
    cmd: [],
    healthcheck: null,
    expose: [],
    stopsignal: null,
  };
  for (const instruction of chain.flatMap((s) => s.instructions)) {
    const { keyword, args } = instruction;
    if (keyword === 'ENV') Object.assign(config.env, parseEnv(args));
    else if (keyword === 'USER') config.user = args;
    else if (keyword === 'WORKDIR') config.workdir = args;
    else if (keyword === 'ENTRYPOINT') {
      config.entrypoint = commandWords(args);
      config.cmd = []; // Docker resets an inherited CMD when ENTRYPOINT is set
    } else if (keyword === 'CMD') config.cmd = commandWords(args);
    else if (keyword === 'HEALTHCHECK') config.healthcheck = parseHealthcheck(args);
    else if (keyword === 'EXPOSE') config.expose.push(...args.split(/\s+/));
    else if (keyword === 'STOPSIGNAL') config.stopsignal = args;
  }
  return config;
}

/** Everything between `npm pkg delete` and the next shell operator, in the stage's RUN lines. */
export function npmPkgDeleteKeys(stage: Stage): string[] {
  const keys: string[] = [];
  for (const run of stage.instructions.filter((i) => i.keyword === 'RUN')) {
    for (const match of run.args.matchAll(/npm pkg delete((?:\s+(?!&&|\|\||;)\S+)+)/g)) {
      keys.push(...shellWords(match[1]));
    }
  }
  return keys;
}

/** .dockerignore pattern (Go filepath.Match plus `**`) as a RegExp over context-relative paths. */
export function dockerignoreRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split(/(\*\*\/|\*\*|\*|\?)/)
    .map((part) =>
      part === '**/'
        ? '(?:.*/)?'
        : part === '**'
          ? '.*'
          : part === '*'
            ? '[^/]*'
            : part === '?'
              ? '[^/]'
              : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${body}$`);
}

/** The shell commands of a stage's RUN lines, split at `&&`. */
export function runCommands(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => i.args.split(/\s*&&\s*/))
    .map((c) => c.trim());
}
