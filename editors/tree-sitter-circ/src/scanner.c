// circ's one context-dependent token: a unit is an identifier that follows a
// number on the same line and is not a keyword (compiler/circ-syntax/src/
// lexer.rs, `lex`). The parser asks for `unit` only right after a number.
#include "tree_sitter/parser.h"
#include <string.h>
#include <wctype.h>

enum TokenType { UNIT };

static const char *const KEYWORDS[] = {
    "use", "const", "fn", "neuron", "extends", "while", "synapse", "circuit", "run",
    "parameter", "state", "input", "let", "spike", "when", "refractory", "unless",
    "on", "pre", "post", "modulator", "method", "noise", "per", "population",
    "project", "connect", "delay", "record", "of", "every", "window", "for", "and",
    "or", "not", "if", "then", "else", "true", "false", "clip", "where", "from",
    "autapses", "as", "at", NULL,
};

void *tree_sitter_circ_external_scanner_create(void) { return NULL; }
void tree_sitter_circ_external_scanner_destroy(void *payload) { (void)payload; }
unsigned tree_sitter_circ_external_scanner_serialize(void *payload, char *buffer) {
  (void)payload;
  (void)buffer;
  return 0;
}
void tree_sitter_circ_external_scanner_deserialize(void *payload, const char *buffer, unsigned length) {
  (void)payload;
  (void)buffer;
  (void)length;
}

static bool ident_start(int32_t c) { return c == '_' || iswalpha(c) || c == 0xB5 || c == 0x3BC || c == 0x3A9; }
static bool ident_continue(int32_t c) { return ident_start(c) || iswdigit(c); }

bool tree_sitter_circ_external_scanner_scan(void *payload, TSLexer *lexer, const bool *valid_symbols) {
  (void)payload;
  if (!valid_symbols[UNIT]) return false;
  // Spaces and tabs only: a unit is on the number's line.
  while (lexer->lookahead == ' ' || lexer->lookahead == '\t') lexer->advance(lexer, true);
  if (!ident_start(lexer->lookahead)) return false;
  char word[64];
  unsigned n = 0;
  while (ident_continue(lexer->lookahead)) {
    if (n < sizeof word - 1) word[n++] = lexer->lookahead < 128 ? (char)lexer->lookahead : '?';
    lexer->advance(lexer, false);
  }
  word[n] = 0;
  for (const char *const *k = KEYWORDS; *k; k++) {
    if (strcmp(word, *k) == 0) return false;
  }
  lexer->mark_end(lexer);
  // `um^2`, `ms^-1`: the exponent belongs to the unit.
  if (lexer->lookahead == '^') {
    lexer->advance(lexer, false);
    if (lexer->lookahead == '-') lexer->advance(lexer, false);
    if (iswdigit(lexer->lookahead)) {
      while (iswdigit(lexer->lookahead)) lexer->advance(lexer, false);
      lexer->mark_end(lexer);
    }
  }
  lexer->result_symbol = UNIT;
  return true;
}
