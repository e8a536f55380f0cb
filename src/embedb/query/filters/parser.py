"""A Pratt parser for Milvus boolean filter expressions.

``parse`` returns the syntax tree (``nodes``) or ``None`` for an empty text;
it knows nothing about schemas. The grammar, lowest precedence first::

    filter      = [ or_expr ] ;
    or_expr     = and_expr { ( "or" | "||" ) and_expr } ;
    and_expr    = not_expr { ( "and" | "&&" ) not_expr } ;
    not_expr    = ( "not" | "!" ) not_expr | predicate ;
    predicate   = sum [ compare_op sum
                      | [ "not" ] "in" sum
                      | "like" sum
                      | "is" [ "not" ] "null" ] ;       (* at most one: a < b < c is an error *)
    compare_op  = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
    sum         = product { ( "+" | "-" ) product } ;
    product     = unary { ( "*" | "/" | "%" ) unary } ;
    unary       = ( "-" | "+" ) unary | power ;
    power       = postfix [ "**" unary ] ;              (* right-associative; -2 ** 2 is -(2 ** 2) *)
    postfix     = primary { "[" ( STRING | INTEGER ) "]" } ;
    primary     = NUMBER | STRING | "true" | "false" | PARAM | list
                | ( "ISO" | "INTERVAL" ) STRING               (* an instant, a duration: TIMESTAMPTZ *)
                | NAME | NAME "(" [ or_expr { "," or_expr } ] ")"
                | "exists" postfix
                | "(" or_expr ")" ;
    list        = "[" [ or_expr { "," or_expr } [ "," ] ] "]" ;
    PARAM       = "{" IDENTIFIER "}" ;
    NAME        = IDENTIFIER | "$meta" ;

Keywords (``and or not in like is null exists true false``) are matched in any
case. The parser accepts some trees that mean nothing (``not age``,
``(a > 1) + 2``): the binder rejects those with a ``FilterError`` that names
the field and the types, while this module raises ``FilterSyntaxError`` only.

A chain of one operator, ``a or b or ...`` (however many terms: generated
filters OR thousands of keys), is one ``Logical`` node. Nesting is limited to
``MAX_DEPTH`` levels — parentheses, ``not``, signs, JSON path keys, function
calls and lists, and the operands of left-to-right arithmetic — and deeper
text is a ``FilterSyntaxError`` that names the limit: every later stage walks
the tree recursively, and no real filter comes near.
"""

from __future__ import annotations

from embedb.errors import FilterSyntaxError
from embedb.query.filters.nodes import (
    FUNCTIONS,
    OPTIONAL_LAST_ARGUMENT,
    Arithmetic,
    Call,
    Comparison,
    Exists,
    Index,
    InList,
    IsNull,
    Like,
    ListLiteral,
    Literal,
    Logical,
    Name,
    Node,
    Param,
    TimeLiteral,
    Unary,
    first_too_deep,
)
from embedb.query.filters.tokens import Token, TokenKind, syntax_error, tokenize

# Binding powers: an operator takes its right operand from everything that binds tighter.
_OR = 10
_AND = 20
_NOT = 30
_COMPARE = 40
_SUM = 50
_PRODUCT = 60
_UNARY = 70
_POWER = 80
_POSTFIX = 90

_INFIX_SYMBOLS = {
    "==": _COMPARE,
    "!=": _COMPARE,
    "<": _COMPARE,
    "<=": _COMPARE,
    ">": _COMPARE,
    ">=": _COMPARE,
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "%": _PRODUCT,
    "**": _POWER,
    "[": _POSTFIX,
}
_INFIX_KEYWORDS = {"or": _OR, "and": _AND, "in": _COMPARE, "like": _COMPARE, "is": _COMPARE}
_DIRECTIONS = {"<": "up", "<=": "up", ">": "down", ">=": "down"}  # the comparisons a range may chain
_COMPARE_SYMBOLS = frozenset({"==", "!=", "<", "<=", ">", ">="})

MAX_DEPTH = 100


def parse(expression: str) -> Node | None:
    """Parse ``expression``; return ``None`` when it is empty or blank.

    Raises ``FilterSyntaxError`` with the position of the first token that does
    not fit and what was expected there.
    """
    tokens = tokenize(expression)
    if tokens[0].kind is TokenKind.END:
        return None
    tree = _Parser(expression, tokens).parse_filter()
    too_deep = first_too_deep(tree, MAX_DEPTH)
    if too_deep is not None:
        raise _too_deep(expression, too_deep.position)
    return tree


def _too_deep(expression: str, position: int) -> FilterSyntaxError:
    return syntax_error(
        expression,
        position,
        f"the filter nests deeper than {MAX_DEPTH} levels",
        hint=f"at most {MAX_DEPTH} levels of parentheses, not, signs, JSON path keys, calls, lists and arithmetic",
    )


class _Parser:
    def __init__(self, expression: str, tokens: list[Token]) -> None:
        self.expression = expression
        self.tokens = tokens
        self.index = 0
        self.depth = 0  # expression_until calls under way: the parser's own recursion

    # -- token helpers ---------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def previous_text(self) -> str:
        return self.tokens[self.index - 1].text if self.index > 0 else ""

    def error(self, reason: str, token: Token | None = None, *, hint: str | None = None) -> FilterSyntaxError:
        token = token or self.current
        return syntax_error(self.expression, token.position, reason, hint=hint)

    def expected(self, what: str, *, hint: str | None = None) -> FilterSyntaxError:
        """The error for a token that is not ``what``: says what came before and what came instead."""
        token = self.current
        after = self.previous_text()
        where = f" after {after!r}" if after else ""
        found = "the end of the expression" if token.kind is TokenKind.END else repr(token.text)
        return syntax_error(self.expression, token.position, f"expected {what}{where}", found=found, hint=hint)

    def expect_symbol(self, symbol: str, *, hint: str | None = None) -> Token:
        if not self.current.is_symbol(symbol):
            raise self.expected(repr(symbol), hint=hint)
        return self.advance()

    # -- grammar ---------------------------------------------------------

    def parse_filter(self) -> Node:
        node = self.expression_until(0)
        if self.current.kind is not TokenKind.END:
            if self.current.is_keyword("not") and not self.peek().is_keyword("in"):
                raise self.error("expected 'not in' or an operator", hint="'not' only starts a condition")
            raise self.expected("an operator or the end of the expression")
        return node

    def expression_until(self, min_power: int) -> Node:
        """Parse operators that bind tighter than ``min_power`` (the Pratt loop)."""
        if self.depth >= MAX_DEPTH:
            raise _too_deep(self.expression, self.current.position)
        self.depth += 1
        try:
            left = self.prefix()
            last_was_comparison = False
            # A range, as Milvus writes it: 10 < age <= 20 is 10 < age and age <= 20. While comparisons chain,
            # ``chain`` holds the last one's right operand and its direction; the chain is one ``and`` node.
            chain: tuple[Node, str] | None = None
            chained = False
            while True:
                token = self.current
                power = self.infix_power(token)
                if power <= min_power:
                    return left
                if power == _COMPARE and last_was_comparison:
                    direction = _DIRECTIONS.get(str(token.value)) if token.kind is TokenKind.SYMBOL else None
                    if chain is None or direction != chain[1]:
                        raise self.error(
                            "a chained comparison must point one way, with < and <= or with > and >=",
                            hint="write '10 < x <= 20', or 'a < x and x < b'",
                        )
                    step = self.infix(chain[0])
                    assert isinstance(step, Comparison)
                    earlier = left.terms if chained and isinstance(left, Logical) else (left,)
                    left = Logical("and", (*earlier, step), token.position)
                    chain, chained = (step.right, direction), True
                    continue
                left = self.infix(left)
                last_was_comparison = power == _COMPARE
                chained = False
                chain = None
                if isinstance(left, Comparison) and left.op in _DIRECTIONS:
                    chain = (left.right, _DIRECTIONS[left.op])
        finally:
            self.depth -= 1

    def logical_chain(self, first: Node, word: str, position: int) -> Logical:
        """``first and ... and ...`` (or ``or``) after the first operator: the whole chain under one node."""
        terms = [first, self.operand(_INFIX_KEYWORDS[word])]
        while self.current.is_keyword(word):
            self.advance()
            terms.append(self.operand(_INFIX_KEYWORDS[word]))
        return Logical(word, tuple(terms), position)

    def infix_power(self, token: Token) -> int:
        if token.kind is TokenKind.SYMBOL:
            return _INFIX_SYMBOLS.get(str(token.value), 0)
        if token.kind is TokenKind.KEYWORD:
            if token.value == "not" and self.peek().is_keyword("in"):
                return _COMPARE
            return _INFIX_KEYWORDS.get(str(token.value), 0)
        return 0

    def prefix(self) -> Node:
        token = self.current
        if token.kind is TokenKind.NUMBER or token.kind is TokenKind.STRING:
            self.advance()
            return Literal(token.value, token.position)  # type: ignore[arg-type]  # lexer gives int, float or str
        if token.kind is TokenKind.PARAM:
            self.advance()
            return Param(str(token.value), token.position)
        if token.kind is TokenKind.NAME:
            self.advance()
            if self.current.is_symbol("("):
                return self.call(token)
            if str(token.value).upper() in ("ISO", "INTERVAL") and self.current.kind is TokenKind.STRING:
                text = self.advance()
                return TimeLiteral(str(token.value).upper(), str(text.value), token.position)
            return Name(str(token.value), token.position)
        if token.is_keyword("true", "false"):
            self.advance()
            return Literal(token.value == "true", token.position)
        if token.is_keyword("not"):
            self.advance()
            return Unary("not", self.operand(_NOT), token.position)
        if token.is_keyword("exists"):
            self.advance()
            return Exists(self.operand(_POWER), token.position)
        if token.is_symbol("-", "+"):
            self.advance()
            return Unary(str(token.value), self.operand(_UNARY), token.position)
        if token.is_symbol("("):
            self.advance()
            inner = self.expression_until(0)
            self.expect_symbol(")", hint=f"needed to close the '(' at position {token.position}")
            return inner
        if token.is_symbol("["):
            return self.list_literal()
        if token.is_keyword("null"):
            raise self.error("null is only allowed in 'is null' and 'is not null'")
        raise self.expected("a value")

    def operand(self, power: int) -> Node:
        if self.current.kind is TokenKind.END:
            raise self.expected("a value")
        return self.expression_until(power)

    def infix(self, left: Node) -> Node:
        token = self.advance()
        position = token.position
        if token.kind is TokenKind.SYMBOL:
            op = str(token.value)
            if op == "[":
                return self.index_key(left, token)
            if op in _COMPARE_SYMBOLS:
                return Comparison(op, left, self.operand(_COMPARE), position)
            if op == "**":
                # Right-associative: 2 ** 3 ** 2 is 2 ** (3 ** 2); the exponent may carry a sign.
                return Arithmetic(op, left, self.operand(_UNARY - 1), position)
            return Arithmetic(op, left, self.operand(_INFIX_SYMBOLS[op]), position)
        word = str(token.value)
        if word in ("and", "or"):
            return self.logical_chain(left, word, position)
        if word == "not":
            self.advance()  # the "in" that infix_power saw
            return InList(left, self.operand(_COMPARE), True, position)
        if word == "in":
            return InList(left, self.operand(_COMPARE), False, position)
        if word == "like":
            return Like(left, self.operand(_COMPARE), position)
        # word == "is"
        negated = False
        if self.current.is_keyword("not"):
            self.advance()
            negated = True
        if not self.current.is_keyword("null"):
            raise self.expected("'null'")
        self.advance()
        return IsNull(left, negated, position)

    def index_key(self, target: Node, bracket: Token) -> Node:
        key = self.current
        if key.kind is TokenKind.STRING:
            value: str | int = str(key.value)
        elif key.kind is TokenKind.NUMBER and isinstance(key.value, int):
            value = key.value
        else:
            raise self.expected("a string key or a non-negative integer index")
        self.advance()
        self.expect_symbol("]")
        return Index(target, value, bracket.position)

    def call(self, name_token: Token) -> Node:
        name = str(name_token.value).lower()
        if name not in FUNCTIONS:
            known = ", ".join(FUNCTIONS)
            raise self.error(f"unknown function {name_token.text!r}", name_token, hint=f"expected one of {known}")
        self.advance()  # "("
        args = self.comma_separated(")")
        if len(args) != FUNCTIONS[name] and not (name in OPTIONAL_LAST_ARGUMENT and len(args) == FUNCTIONS[name] - 1):
            count = FUNCTIONS[name]
            raise self.error(
                f"{name}() takes {count} argument{'s' if count > 1 else ''}, got {len(args)}", name_token
            )
        return Call(name, tuple(args), name_token.position)

    def list_literal(self) -> Node:
        bracket = self.advance()
        return ListLiteral(tuple(self.comma_separated("]")), bracket.position)

    def comma_separated(self, closing: str) -> list[Node]:
        items: list[Node] = []
        while not self.current.is_symbol(closing):
            items.append(self.operand(0))
            if self.current.is_symbol(","):
                self.advance()
            elif not self.current.is_symbol(closing):
                raise self.expected(f"',' or {closing!r}")
        self.advance()
        return items
