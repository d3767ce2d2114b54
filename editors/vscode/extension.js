// The circ extension: starts `circ lsp` (the setting circ.path names the
// command) for .circ files. Highlighting comes from the TextMate grammar;
// diagnostics, hover, definitions, completion and symbols from the server.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('circ').get('path') || 'circ';
  const server = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient(
    'circ',
    'circ language server',
    { run: server, debug: server },
    { documentSelector: [{ scheme: 'file', language: 'circ' }, { scheme: 'untitled', language: 'circ' }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
