"""Tokens of the filter language, the lexer, and the one way to report a syntax error.

``tokenize`` turns the text into a list of ``Token`` ending with an ``END``
token. Keywords are matched without regard to case (``AND``, ``and``, ``And``);
``&&``, ``||`` and ``!`` become the keywords ``and``, ``or`` and ``not``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from embedb.errors import FilterSyntaxError
from embedb.schema import DYNAMIC_FIELD_NAME, lone_surrogate_at

KEYWORDS = frozenset({"and", "or", "not", "in", "like", "is", "null", "exists", "true", "false"})

# Longest first, so that "**" wins over "*" and "<=" over "<".
SYMBOLS = ("**", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", "!")
_SYMBOL_KEYWORDS = {"&&": "and", "||": "or", "!": "not"}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0", "\\": "\\", '"': '"', "'": "'", "/": "/"}
_RADIX_PREFIXES = {"0x": 16, "0o": 8, "0b": 2}
# Integer literals beyond float64's range compare as infinities anyway; refusing them keeps
# every constant printable (Python will not print an int of more than 4300 digits).
MAX_INTEGER_BITS = 1024
MAX_INTEGER_DIGITS = 309  # 2**1024 has 309 decimal digits
_CONTEXT = 60  # characters shown each side of an error's position on a long line
_SURROGATE = re.compile("[\ud800-\udfff]")


class TokenKind(enum.Enum):
    NUMBER = "number"  # value: int or float
    STRING = "string"  # value: the unescaped text
    NAME = "name"  # value: a field name, a dynamic key, or "$meta"
    PARAM = "param"  # value: the template parameter name inside {...}
    KEYWORD = "keyword"  # value: the lower-case keyword
    SYMBOL = "symbol"  # value: the operator or punctuation
    END = "end"  # value: None; position is len(expression)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # the source text, for messages
    value: object
    position: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind is TokenKind.KEYWORD and self.value in words

    def is_symbol(self, *symbols: str) -> bool:
        return self.kind is TokenKind.SYMBOL and self.value in symbols


def syntax_error(
    expression: str, position: int, reason: str, *, found: str | None = None, hint: str | None = None
) -> FilterSyntaxError:
    """Build the ``FilterSyntaxError`` for ``reason`` at ``position``, with the line and a caret.

    The message reads ``<reason> at position <n>[, found <found>][; <hint>]``
    followed by the line of the expression that holds the position and a caret
    under it. ``details`` holds ``position``, ``reason`` and ``expression``.
    """
    line_start = expression.rfind("\n", 0, position) + 1
    line_end = expression.find("\n", position)
    line_end = line_end if line_end != -1 else len(expression)
    # A long line is shown as a window around the position, so a huge filter is not echoed whole.
    shown_start = max(line_start, position - _CONTEXT)
    shown_end = min(line_end, position + _CONTEXT)
    before = "..." if shown_start > line_start else ""
    after = "..." if shown_end < line_end else ""
    line = before + _printable(expression[shown_start:shown_end]) + after
    caret = " " * (len(before) + position - shown_start) + "^"
    found_text = f", found {found}" if found else ""
    hint_text = f"; {hint}" if hint else ""
    message = f"{reason} at position {position}{found_text}{hint_text}\n    {line}\n    {caret}"
    return FilterSyntaxError(message, position=position, reason=reason, expression=expression)


def _printable(text: str) -> str:
    """``text`` with each lone surrogate shown as U+FFFD (same length, so the caret stays in place)."""
    return text if lone_surrogate_at(text) is None else _SURROGATE.sub("\ufffd", text)


def tokenize(expression: str) -> list[Token]:
    """Split ``expression`` into tokens; raise ``FilterSyntaxError`` at the first bad character.

    A lone surrogate (``"\\ud800"``, which no UTF-8 text can hold) is a bad
    character wherever it is, written out or as a ``\\u`` escape.
    """
    surrogate = lone_surrogate_at(expression)
    if surrogate is not None:
        raise syntax_error(expression, surrogate, "a lone surrogate is not valid text", found=ascii(expression[surrogate]))
    return _Lexer(expression).run()


class _Lexer:
    def __init__(self, expression: str) -> None:
        self.text = expression
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos >= len(text):
                self.tokens.append(Token(TokenKind.END, "", None, len(text)))
                return self.tokens
            char = text[self.pos]
            if char.isascii() and (char.isdigit() or (char == "." and self._peek(1).isdigit())):
                self._number()
            elif char in "\"'":
                self._string(char)
            elif char.isascii() and (char.isalpha() or char == "_"):
                self._word()
            elif char == "$":
                self._dynamic_field()
            elif char == "{":
                self._param()
            else:
                self._symbol()

    def _peek(self, ahead: int) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def _add(self, kind: TokenKind, start: int, value: object) -> None:
        self.tokens.append(Token(kind, self.text[start : self.pos], value, start))

    def _error(self, position: int, reason: str, *, hint: str | None = None) -> FilterSyntaxError:
        return syntax_error(self.text, position, reason, hint=hint)

    def _scan_identifier(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and _is_name_char(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def _number(self) -> None:
        start, text = self.pos, self.text
        prefix = text[start : start + 2].lower()
        if prefix in _RADIX_PREFIXES:
            self.pos += 2
            digits = self._scan_identifier()
            try:
                value = int(digits, _RADIX_PREFIXES[prefix])
            except ValueError:
                raise self._error(start, f"invalid number {text[start : self.pos]!r}") from None
            self._add(TokenKind.NUMBER, start, self._integer_in_range(value, start))
            return
        while self.pos < len(text) and text[self.pos].isdigit():
            self.pos += 1
        is_float = False
        if self.pos < len(text) and text[self.pos] == ".":
            is_float = True
            self.pos += 1
            while self.pos < len(text) and text[self.pos].isdigit():
                self.pos += 1
        if self.pos < len(text) and text[self.pos] in "eE":
            exponent_start = self.pos
            self.pos += 1
            if self.pos < len(text) and text[self.pos] in "+-":
                self.pos += 1
            if not (self.pos < len(text) and text[self.pos].isdigit()):
                raise self._error(exponent_start, "expected digits in the exponent of a number")
            while self.pos < len(text) and text[self.pos].isdigit():
                self.pos += 1
            is_float = True
        if self.pos < len(text) and _is_name_char(text[self.pos]):
            raise self._error(self.pos, f"unexpected character {text[self.pos]!r} after the number {text[start : self.pos]!r}")
        literal = text[start : self.pos]
        if is_float:
            self._add(TokenKind.NUMBER, start, float(literal))
        elif len(literal.lstrip("0")) > MAX_INTEGER_DIGITS:  # int() refuses thousands of digits: say why here
            raise self._error(start, f"integer literal too large (over {MAX_INTEGER_BITS} bits)")
        else:
            self._add(TokenKind.NUMBER, start, self._integer_in_range(int(literal), start))

    def _integer_in_range(self, value: int, start: int) -> int:
        if value.bit_length() > MAX_INTEGER_BITS:
            raise self._error(start, f"integer literal too large (over {MAX_INTEGER_BITS} bits)")
        return value

    def _string(self, quote: str) -> None:
        start, text = self.pos, self.text
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self._error(start, "unterminated string", hint=f"expected a closing {quote} for the string that starts here")
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                break
            if char != "\\":
                chars.append(char)
                self.pos += 1
                continue
            escape = self._peek(1)
            if escape == "u":
                chars.append(self._unicode_escape())
            elif escape in _ESCAPES:
                chars.append(_ESCAPES[escape])
                self.pos += 2
            elif escape in "%_":
                # Kept as written: LIKE patterns use \% and \_ for a literal % or _.
                chars.append("\\" + escape)
                self.pos += 2
            else:
                raise self._error(self.pos, f"unknown escape '\\{escape}' in a string")
        self._add(TokenKind.STRING, start, "".join(chars))

    def _unicode_escape(self) -> str:
        """The character of ``\\uXXXX`` at ``pos`` (two escapes for a surrogate pair); moves past it."""
        start = self.pos
        code = self._hex_escape(start)
        if 0xDC00 <= code <= 0xDFFF:
            raise self._error(start, "a lone surrogate is not valid text", hint="a low surrogate must follow a high one")
        if 0xD800 <= code <= 0xDBFF:
            low = self._hex_escape(start + 6) if self.text.startswith("\\u", start + 6) else -1
            if not 0xDC00 <= low <= 0xDFFF:
                raise self._error(start, "a lone surrogate is not valid text", hint="a high surrogate needs a low one after it")
            self.pos = start + 12
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        self.pos = start + 6
        return chr(code)

    def _hex_escape(self, position: int) -> int:
        digits = self.text[position + 2 : position + 6]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self._error(position, "expected four hex digits after '\\u'")
        return int(digits, 16)

    def _word(self) -> None:
        start = self.pos
        word = self._scan_identifier()
        lowered = word.lower()
        if lowered in KEYWORDS:
            self._add(TokenKind.KEYWORD, start, lowered)
        else:
            self._add(TokenKind.NAME, start, word)

    def _dynamic_field(self) -> None:
        start = self.pos
        self.pos += 1
        word = self._scan_identifier()
        if "$" + word != DYNAMIC_FIELD_NAME:
            raise self._error(start, f"expected {DYNAMIC_FIELD_NAME!r} (the only name that starts with '$')")
        self._add(TokenKind.NAME, start, DYNAMIC_FIELD_NAME)

    def _param(self) -> None:
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        name = self._scan_identifier()
        if not name or name[0].isdigit():
            raise self._error(self.pos, "expected a parameter name after '{'")
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        if self._peek(0) != "}":
            raise self._error(self.pos, f"expected '}}' after the parameter name {name!r}")
        self.pos += 1
        self._add(TokenKind.PARAM, start, name)

    def _symbol(self) -> None:
        start = self.pos
        for symbol in SYMBOLS:
            if self.text.startswith(symbol, start):
                self.pos += len(symbol)
                if symbol in _SYMBOL_KEYWORDS:
                    self._add(TokenKind.KEYWORD, start, _SYMBOL_KEYWORDS[symbol])
                else:
                    self._add(TokenKind.SYMBOL, start, symbol)
                return
        char = self.text[start]
        meant = {"=": "expected '=='", "&": "expected '&&' or 'and'", "|": "expected '||' or 'or'"}
        if char in meant:
            raise syntax_error(self.text, start, meant[char], found=repr(char))
        raise self._error(start, f"unexpected character {char!r}")


def _is_name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")
