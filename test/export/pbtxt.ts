// A small reader of protobuf text format (the subset config.pbtxt files use), written for the
// tests so that they read the file as Triton would instead of matching our own formatting:
// `field: scalar`, `field { … }` / `field: { … }`, `field: [ a, b ]` / `field [ {…}, {…} ]`,
// comments, and fields repeated by repetition. Every field reads as a list of its values.

export type PbValue = string | number | boolean | { enum: string } | PbMessage;
export interface PbMessage {
  [field: string]: PbValue[];
}

type Token = { kind: 'punct' | 'ident' | 'number' | 'string'; text: string; value?: string | number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if ('{}[]:,;<>'.includes(c)) tokens.push({ kind: 'punct', text: text[i++] });
    else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (text[j] !== c) {
        if (j >= text.length) throw new SyntaxError('unterminated string');
        if (text[j] === '\\') {
          const e = text[j + 1];
          const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
          if (e in simple) {
            value += simple[e];
            j += 2;
          } else if (/[0-7]/.test(e)) {
            const oct = /^[0-7]{1,3}/.exec(text.slice(j + 1))![0];
            value += String.fromCharCode(Number.parseInt(oct, 8));
            j += 1 + oct.length;
          } else throw new SyntaxError(`unknown escape \\${e}`);
        } else value += text[j++];
      }
      tokens.push({ kind: 'string', text: text.slice(i, j + 1), value });
      i = j + 1;
    } else {
      const m = /^[-+]?[A-Za-z0-9_.]+/.exec(text.slice(i));
      if (!m) throw new SyntaxError(`unexpected ${JSON.stringify(c)} at ${i}`);
      const word = m[0];
      const isNumber = /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)$/.test(word);
      tokens.push(isNumber ? { kind: 'number', text: word, value: Number(word) } : { kind: 'ident', text: word });
      i += word.length;
    }
  }
  return tokens;
}

export function parsePbtxt(text: string): PbMessage {
  const tokens = tokenize(text);
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string): Token => {
    const t = tokens[at++];
    if (!t) throw new SyntaxError('unexpected end of input');
    if (expected !== undefined && t.text !== expected) throw new SyntaxError(`expected ${expected}, got ${t.text}`);
    return t;
  };

  function scalar(): PbValue {
    const t = take();
    if (t.kind === 'string' || t.kind === 'number') return t.value!;
    if (t.kind === 'ident') return t.text === 'true' ? true : t.text === 'false' ? false : { enum: t.text };
    throw new SyntaxError(`expected a value, got ${t.text}`);
  }

  function value(): PbValue {
    return peek()?.text === '{' || peek()?.text === '<' ? messageBody() : scalar();
  }

  function messageBody(): PbMessage {
    const close = take().text === '{' ? '}' : '>';
    const m = fields(close);
    take(close);
    return m;
  }

  function fields(close?: string): PbMessage {
    const m: PbMessage = {};
    while (at < tokens.length && peek().text !== close) {
      const name = take();
      if (name.kind !== 'ident') throw new SyntaxError(`expected a field name, got ${name.text}`);
      if (peek()?.text === ':') take(':');
      m[name.text] ??= [];
      const values = m[name.text];
      if (peek()?.text === '[') {
        take('[');
        while (peek()?.text !== ']') {
          values.push(value());
          if (peek()?.text === ',') take(',');
        }
        take(']');
      } else values.push(value());
      if (peek()?.text === ',' || peek()?.text === ';') take();
    }
    return m;
  }

  const root = fields();
  if (at !== tokens.length) throw new SyntaxError(`unexpected ${peek().text}`);
  return root;
}

/** The one value of a singular field (undefined when absent). */
export function one<T extends PbValue>(m: PbMessage, field: string): T | undefined {
  const values = m[field];
  if (values && values.length > 1) throw new Error(`${field} is repeated`);
  return values?.[0] as T | undefined;
}
