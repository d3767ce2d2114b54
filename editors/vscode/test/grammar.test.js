// Tokenizes circ text with the extension's TextMate grammar (VS Code's
// own engine: vscode-textmate on Oniguruma) and checks the scopes of the
// tokens that matter: numbers and their units (an identifier after a number
// on its line, unless it is a keyword), keywords, names, comments, strings.
// Run by compiler/circ/tests/editors.rs; exits 1 with the differences.
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const wasm = fs.readFileSync(path.join(__dirname, '../node_modules/vscode-oniguruma/release/onig.wasm')).buffer;
const grammarPath = path.join(__dirname, '../syntaxes/circ.tmLanguage.json');

async function main() {
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
  });
  const grammar = await registry.loadGrammar('source.circ');

  // Each case: a line, then [text, a scope its token must have] pairs.
  const cases = [
    ['    dv/dt = (-65 mV - v) / 10 ms unless refractory', [
      ['65', 'constant.numeric.circ'], ['mV', 'support.type.unit.circ'], ['10', 'constant.numeric.circ'],
      ['ms', 'support.type.unit.circ'], ['unless', 'keyword.other.circ'], ['refractory', 'keyword.other.circ'],
    ]],
    ['const a = if x > 0 then 1 else 2', [
      ['then', 'keyword.control.conditional.circ'], ['else', 'keyword.control.conditional.circ'],
      ['a', 'variable.other.constant.circ'],
    ]],
    ['neuron LIFCond extends std::neurons::LIF {', [['neuron', 'keyword.declaration.circ'], ['LIFCond', 'entity.name.type.circ']]],
    ['    population E = LIFCond[3200](t_ref = 5 ms) // excitatory', [
      ['population', 'keyword.other.circ'], ['E', 'variable.other.circ'], ['LIFCond', 'entity.name.type.circ'],
      ['ms', 'support.type.unit.circ'], ['// excitatory', 'comment.line.double-slash.circ'],
    ]],
    ['    project exc = E -> E, I : ExpCond(w = 6 nS) connect bernoulli(0.02) delay 1.5 ms', [
      ['project', 'keyword.other.circ'], ['nS', 'support.type.unit.circ'], ['connect', 'keyword.other.circ'],
      ['bernoulli', 'entity.name.function.call.circ'], ['delay', 'keyword.other.circ'], ['1.5', 'constant.numeric.circ'],
    ]],
    ['    parameter area = 20000 um^2', [['area', 'variable.other.property.circ'], ['um^2', 'support.type.unit.circ']]],
    ['use "cells.circ"::{Cell}', [['cells.circ', 'string.quoted.double.circ'], ['use', 'keyword.other.circ']]],
  ];

  let failed = 0;
  for (const [line, expected] of cases) {
    const { tokens } = grammar.tokenizeLine(line, vsctm.INITIAL);
    const found = tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes]);
    for (const [text, scope] of expected) {
      const hit = found.find(([t, scopes]) => t.trim() === text && scopes.includes(scope));
      if (!hit) {
        failed += 1;
        console.log(`"${text}" in "${line}" lacks ${scope}; tokens: ${JSON.stringify(found.map(([t, s]) => [t, s.slice(1)]))}`);
      }
    }
  }
  // Every line of every model in the repository tokenizes (no grammar error).
  let lines = 0;
  for (const dir of ['../../../examples', '../../../stdlib']) {
    for (const f of fs.readdirSync(path.join(__dirname, dir)).filter((n) => n.endsWith('.circ'))) {
      let state = vsctm.INITIAL;
      for (const l of fs.readFileSync(path.join(__dirname, dir, f), 'utf8').split('\n')) {
        state = grammar.tokenizeLine(l, state).ruleStack;
        lines += 1;
      }
    }
  }
  console.log(`${cases.length} cases, ${lines} lines of models tokenized, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
