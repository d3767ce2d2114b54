; circ: keywords, numbers with their units, names by what they declare.

[
  "use" "const" "fn" "neuron" "synapse" "extends" "circuit" "run" "for"
  "parameter" "state" "input" "let" "spike" "when" "refractory" "while"
  "unless" "on" "pre" "post" "modulator" "method" "noise" "per"
  "population" "project" "connect" "delay" "record" "of" "every" "window"
  "where" "from" "autapses" "as" "at" "clip"
] @keyword

["if" "then" "else"] @keyword.conditional
["and" "or" "not"] @keyword.operator

["=" "+=" "-=" "*=" "+" "-" "*" "/" "%" "^" "<" "<=" ">" ">=" "==" "!=" "->" ".." "::"] @operator
["(" ")" "[" "]" "{" "}"] @punctuation.bracket
["," ";" ":" "."] @punctuation.delimiter

(number) @number
(unit) @type.builtin
(dimension) @type.builtin
(boolean) @boolean
(string) @string
(line_comment) @comment
(block_comment) @comment

(model_item name: (identifier) @type)
(model_item extends: (identifier) @type)
(circuit_item name: (identifier) @type)
(population model: (identifier) @type)
(projection model: (identifier) @type)
(run_item circuit: (identifier) @type)
(population name: (identifier) @variable)
(projection name: (identifier) @variable)
(variable name: (identifier) @property)
(input_declaration name: (identifier) @property)
(derivative (identifier) @property)
(fn_item name: (identifier) @function)
(const_item name: (identifier) @constant)
(call function: (identifier) @function.call)
(rule name: (identifier) @function.call)
(argument name: (identifier) @variable.parameter)
