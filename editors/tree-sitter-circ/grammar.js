/**
 * @file circ: neural circuit models with physical units.
 *
 * A port of compiler/circ-syntax/src/grammar.lalrpop (the compiler's
 * grammar is normative; this one is for editors: highlighting, folding,
 * navigation). Newline-insensitive like the compiler's, with one lexical
 * rule taken from its lexer: an identifier that follows a number on the
 * same line is a unit (`5 mV / m` is five millivolts over the variable
 * `m`), made by the external scanner (src/scanner.c).
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const PREC = {
  if: 1,
  clip: 2,
  or: 3,
  and: 4,
  not: 5,
  cmp: 6,
  sum: 7,
  product: 8,
  unary: 9,
  power: 10,
  call: 11,
};

const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));
const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)));

module.exports = grammar({
  name: 'circ',

  externals: ($) => [$.unit],

  extras: ($) => [/\s/, $.line_comment, $.block_comment],

  word: ($) => $.identifier,

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.use_item, $.const_item, $.fn_item, $.model_item, $.circuit_item, $.run_item),

    // ---- items ---------------------------------------------------------

    use_item: ($) =>
      seq(
        'use',
        choice(
          seq($.string, '::', choice($.use_list, '*', $.use_name)),
          seq($.identifier, repeat1(seq('::', choice($.identifier, $.use_list, '*'))), optional(seq('as', field('alias', $.identifier)))),
        ),
      ),

    use_list: ($) => seq('{', commaSep($.use_name), '}'),

    module_path: ($) => seq($.identifier, repeat1(seq('::', $.identifier))),

    use_name: ($) => seq(field('name', $.identifier), optional(seq('as', field('alias', $.identifier)))),

    const_item: ($) =>
      seq('const', field('name', $.identifier), optional(seq(':', field('dimension', $._dim))), '=', field('value', $._expr), optional(';')),

    fn_item: ($) =>
      seq(
        'fn',
        field('name', $.identifier),
        '(',
        commaSep($.fn_param),
        ')',
        optional(seq('->', field('dimension', $._dim))),
        choice(
          seq('=', field('body', $._expr), optional(';')),
          seq('{', repeat($.fn_let), field('body', $._expr), optional(';'), '}'),
        ),
      ),

    fn_param: ($) => seq(field('name', $.identifier), ':', field('dimension', $._dim)),

    fn_let: ($) => seq('let', field('name', $.identifier), '=', field('value', $._expr), ';'),

    model_item: ($) =>
      seq(
        field('kind', choice('neuron', 'synapse')),
        field('name', $.identifier),
        optional(seq('extends', field('extends', choice($.identifier, $.module_path)))),
        '{',
        repeat($._member),
        '}',
      ),

    circuit_item: ($) =>
      seq(
        'circuit',
        field('name', $.identifier),
        optional(seq('(', commaSep($.circuit_param), ')')),
        '{',
        repeat($._circuit_member),
        '}',
      ),

    circuit_param: ($) => seq(field('name', $.identifier), '=', field('value', $._expr)),

    run_item: ($) =>
      seq(
        'run',
        field('circuit', $.identifier),
        optional($.arguments),
        'for',
        field('duration', $._expr),
        optional($.settings),
        optional(';'),
      ),

    settings: ($) => seq('{', repeat(seq($.setting, optional(','))), '}'),

    setting: ($) => seq(field('name', $.identifier), '=', field('value', $._expr), optional(';')),

    // ---- neuron and synapse members ------------------------------------

    _member: ($) =>
      choice(
        $.parameter_declaration,
        $.state_declaration,
        $.input_declaration,
        $.let_declaration,
        $.equation,
        $.spike,
        $.method,
        $.handler,
        $.modulator_declaration,
        seq($.assignment, optional(';')),
      ),

    parameter_declaration: ($) => seq('parameter', commaSep1($.variable), optional(';')),

    state_declaration: ($) =>
      seq(optional(field('side', choice('pre', 'post'))), 'state', commaSep1($.variable), optional(';')),

    variable: ($) =>
      seq(
        field('name', $.identifier),
        optional(seq(':', field('dimension', $._dim))),
        optional(seq('=', field('value', $._expr))),
        optional(seq('per', choice('neuron', 'synapse'))),
      ),

    input_declaration: ($) => seq('input', field('name', $.identifier), ':', field('dimension', $._dim), optional(';')),

    let_declaration: ($) =>
      seq(optional(field('side', choice('pre', 'post'))), 'let', field('name', $.identifier), '=', field('value', $._expr), optional(';')),

    // `dv/dt = ...`
    equation: ($) =>
      seq(
        field('derivative', $.derivative),
        '=',
        field('value', $._expr),
        optional(seq('noise', field('noise', $._expr))),
        optional(seq('unless', 'refractory')),
        optional(';'),
      ),

    derivative: ($) => seq($.identifier, '/', $.identifier),

    spike: ($) =>
      seq(
        'spike',
        'when',
        field('condition', $._expr),
        optional($.block),
        optional(seq('refractory', optional('while'), field('refractory', $._expr))),
        optional(';'),
      ),

    method: ($) => seq('method', field('name', $.identifier), optional(';')),

    handler: ($) => seq('on', field('event', choice('pre', 'post')), $.block),

    modulator_declaration: ($) =>
      seq('modulator', field('name', $.identifier), optional(seq(':', field('dimension', $._dim))), optional(';')),

    block: ($) => seq('{', repeat($._statement), '}'),

    _statement: ($) => choice(seq($.assignment, optional(';')), $.let_statement, $.if_statement),

    let_statement: ($) => seq('let', field('name', $.identifier), '=', field('value', $._expr), optional(';')),

    if_statement: ($) =>
      seq('if', field('condition', $._expr), $.block, optional(seq('else', choice($.block, $.if_statement)))),

    assignment: ($) =>
      seq(
        field('target', choice($.identifier, $.side_field)),
        field('operator', choice('=', '+=', '-=', '*=')),
        field('value', $._expr),
      ),

    side_field: ($) => seq(choice('pre', 'post'), '.', $.identifier),

    // ---- circuits ------------------------------------------------------

    _circuit_member: ($) => choice($.population, $.projection, $.record, $.circuit_modulator, $.circuit_let),

    population: ($) =>
      seq(
        'population',
        field('name', $.identifier),
        '=',
        field('model', $.identifier),
        '[',
        field('size', $._expr),
        ']',
        optional($.arguments),
        optional($.settings),
        optional(seq('at', field('positions', $._expr))),
        optional(seq('method', field('method', $.identifier))),
        optional(';'),
      ),

    projection: ($) =>
      seq(
        'project',
        optional(seq(field('name', $.identifier), '=')),
        commaSep1($.selection),
        '->',
        commaSep1($.selection),
        ':',
        field('model', $.identifier),
        optional($.arguments),
        optional($.settings),
        'connect',
        field('rule', $.rule),
        optional(seq('delay', field('delay', $._expr), optional($.identifier))),
        optional('autapses'),
        optional(';'),
      ),

    selection: ($) => seq(field('name', $.identifier), optional(seq('[', field('index', choice($.range, $._sum)), ']'))),

    rule: ($) =>
      seq(
        choice(
          seq(field('name', $.identifier), optional($.arguments)),
          seq('where', $._expr),
          seq('from', choice($.string, $.identifier), optional($.arguments)),
        ),
        optional(seq('where', field('filter', $._expr))),
      ),

    record: ($) =>
      seq(
        'record',
        field('what', $.identifier),
        'of',
        commaSep1($.selection),
        optional(seq('every', field('every', $._expr))),
        optional(seq('window', field('window', $._expr))),
        optional(seq('at', commaSep1($._expr))),
        optional(';'),
      ),

    circuit_modulator: ($) => seq('modulator', field('name', $.identifier), '=', field('value', $._expr), optional(';')),

    circuit_let: ($) => seq('let', field('name', $.identifier), '=', field('value', $._expr), optional(';')),

    arguments: ($) => seq('(', commaSep($.argument), ')'),

    argument: ($) =>
      choice(
        seq(
          field('name', choice($.identifier, alias(choice('delay', 'every', 'window', 'method', 'noise', 'at'), $.identifier))),
          '=',
          field('value', $._expr),
        ),
        field('value', $._expr),
      ),

    // ---- expressions ---------------------------------------------------

    _expr: ($) => choice($.if_expression, $.clip_expression, $._or),

    if_expression: ($) => prec.right(PREC.if, seq('if', $._expr, 'then', $._expr, 'else', $._expr)),

    clip_expression: ($) => seq($._or, 'clip', $.range),

    _or: ($) => choice($.binary_expression, $.unary_expression, $._atom),

    binary_expression: ($) =>
      choice(
        prec.left(PREC.or, seq($._or, 'or', $._or)),
        prec.left(PREC.and, seq($._or, 'and', $._or)),
        prec.left(PREC.cmp, seq($._or, choice('<', '<=', '>', '>=', '==', '!='), $._or)),
        prec.left(PREC.sum, seq($._or, choice('+', '-'), $._or)),
        prec.left(PREC.product, seq($._or, choice('*', '/', '%'), $._or)),
        prec.right(PREC.power, seq($._or, '^', $._or)),
      ),

    unary_expression: ($) =>
      choice(prec(PREC.not, seq('not', $._or)), prec(PREC.unary, seq(choice('-', '+'), $._or))),

    // What a range's ends and a selection's index are.
    _sum: ($) => $._or,

    range: ($) => prec.left(seq(optional(field('start', $._sum)), '..', optional(field('end', $._sum)))),

    _atom: ($) =>
      choice(
        $.quantity,
        $.boolean,
        $.string,
        $.file,
        $.identifier,
        $.field,
        $.call,
        $.array,
        $.parenthesized,
      ),

    quantity: ($) => seq($.number, optional($.unit_suffix)),

    unit_suffix: ($) => choice($.unit, seq('[', $._unit_product, ']')),

    _unit_product: ($) => choice(prec.left(seq($._unit_product, choice('*', '/'), $._unit_power)), $._unit_power),

    _unit_power: ($) => choice(seq($._unit_atom, '^', $.exponent), $._unit_atom),

    _unit_atom: ($) => choice(alias($.identifier, $.unit), $.number, seq('(', $._unit_product, ')')),

    exponent: ($) => choice(seq(optional('-'), $.number), seq('(', optional('-'), $.number, '/', $.number, ')')),

    number: (_) => token(choice(/[0-9]+/, /[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?/, /[0-9]+[eE][+-]?[0-9]+/)),

    boolean: (_) => choice('true', 'false'),

    string: (_) => token(seq('"', repeat(choice(/[^"\\\n]/, /\\./)), '"')),

    file: ($) => seq('from', choice($.string, $.identifier)),

    field: ($) => seq(choice($.identifier, 'pre', 'post'), '.', $.identifier),

    call: ($) => prec(PREC.call, seq(field('function', $.identifier), $.arguments)),

    array: ($) => seq('[', commaSep($._expr), ']'),

    parenthesized: ($) => seq('(', $._expr, ')'),

    // ---- dimensions ----------------------------------------------------

    _dim: ($) => choice(prec.left(seq($._dim, choice('*', '/'), $._dim_power)), $._dim_power),

    _dim_power: ($) => choice(seq($._dim_atom, '^', $.exponent), $._dim_atom),

    _dim_atom: ($) => choice(alias($.identifier, $.dimension), $.number, seq('[', $._unit_product, ']'), seq('(', $._dim, ')')),

    identifier: (_) => /[\p{XID_Start}_][\p{XID_Continue}]*/,

    line_comment: (_) => token(seq('//', /[^\n]*/)),

    block_comment: (_) => token(seq('/*', /[^*]*\*+([^/*][^*]*\*+)*/, '/')),
  },
});
