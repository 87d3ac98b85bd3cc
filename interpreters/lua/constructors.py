"""Rewrite a script's table constructors so that its tables record key insertion order.

gopher-lua, Karmada's Lua, walks a table's non-array keys in insertion order; PUC Lua does
not keep that order. Every constructor ``{...}`` of a script becomes
``TABLE({...}, k1, k2, ...)``, where ``TABLE`` (`ordered`) gives the new table the
metatable that records later insertions and ``k1, k2, ...`` are the constructor's keys in
source order: a name or a literal string or number as written, and ``KEY`` for a computed
key ``[exp]``, which becomes ``[KEY(exp)]`` so its value is recorded when it is evaluated.
A constructor that is a call argument (``f{...}``) becomes ``f(TABLE({...}))``.

Lua 5.1's grammar makes this a lexical job: a brace always opens a table constructor, and
inside one a field starts either with ``[`` (a computed key), with ``Name =`` (a named key)
or with an expression (a positional item). Blocks (``function``/``do``/``if`` ... ``end``,
``repeat`` ... ``until``) are tracked so that commas inside a function written in a
constructor are not taken for field separators. No newline is inserted, so Lua's line
numbers in error messages stay those of the original script.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

TABLE = "__statusagg_table"
KEY = "__statusagg_key"
HELPERS = "__statusagg_helpers"
# The runtime puts HELPERS, which returns both functions, in the script's environment; the
# prologue takes them into locals and removes the global, so scripts never see it (and the
# chunk's `...` stays empty, as in Karmada).
PROLOGUE = f"local {TABLE}, {KEY} = {HELPERS}(); {HELPERS} = nil; "

_KEYWORDS = frozenset(
    (
        *("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if"),
        *("in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"),
    )
)
_BLOCK_OPENERS = frozenset(("function", "do", "if", "repeat"))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\.?[0-9][0-9.]*(?:[eE][+-]?)?[A-Za-z0-9_]*")
_SPACE = re.compile(r"\s+")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_OPERATORS = ("...", "..", "==", "~=", "<=", ">=")


class RewriteError(ValueError):
    """The script has a token or bracket this lexer cannot place (Lua would not compile it)."""


@dataclass(slots=True)
class _Token:
    kind: str  # "name", "keyword", "string", "number", or the operator itself
    start: int
    end: int


@dataclass(slots=True)
class _Constructor:
    open_at: int
    call_argument_after: int | None  # where "(" goes when the constructor is a call argument
    keys: list[str] = field(default_factory=list)
    at_field_start: bool = True


@dataclass(slots=True)
class _Bracket:
    kind: str  # "(", "[", "block", or "key" for the "[exp]" of a computed key
    constructor: _Constructor | None = None
    first_token: int = 0


# Texts inserted at one position go closers first, then a call's "(", then KEY(, then TABLE(.
_CLOSE, _CALL, _KEY_OPEN, _TABLE_OPEN = range(4)


class _Rewriter:
    def __init__(self, code: str) -> None:
        self.code = code
        self.tokens = list(_tokens(code))
        self.inserts: list[tuple[int, int, int, str]] = []

    def insert(self, position: int, order: int, text: str) -> None:
        self.inserts.append((position, order, len(self.inserts), text))

    def text(self, token: _Token) -> str:
        return self.code[token.start : token.end]

    def run(self) -> str:
        tokens = self.tokens
        stack: list[_Constructor | _Bracket] = []
        for index, token in enumerate(tokens):
            top = stack[-1] if stack else None
            kind = token.kind
            if isinstance(top, _Constructor) and top.at_field_start and kind != "}":
                top.at_field_start = False
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                if kind == "name" and following is not None and following.kind == "=":
                    top.keys.append(f'"{self.text(token)}"')
                elif kind == "[":
                    stack.append(_Bracket("key", top, index + 1))
                    continue
            if kind == "{":
                previous = tokens[index - 1] if index else None
                argument = previous.end if previous and previous.kind in _CALLABLE_ENDS else None
                stack.append(_Constructor(token.start, argument))
            elif kind == "}":
                self._close_constructor(_pop(stack, _Constructor, token), token)
            elif kind in ("(", "["):
                stack.append(_Bracket(kind))
            elif kind in (")", "]"):
                bracket = _pop(stack, _Bracket, token)
                if bracket.kind == "key" and bracket.constructor is not None:
                    self._key(bracket.first_token, index, bracket.constructor)
                elif bracket.kind not in ("(", "["):
                    raise RewriteError(f"unexpected {kind!r} at offset {token.start}")
            elif kind == "keyword" and self.text(token) in _BLOCK_OPENERS:
                stack.append(_Bracket("block"))
            elif kind == "keyword" and self.text(token) in ("end", "until"):
                if _pop(stack, _Bracket, token).kind != "block":
                    raise RewriteError(f"unexpected {self.text(token)!r} at offset {token.start}")
            elif kind in (",", ";") and isinstance(top, _Constructor):
                top.at_field_start = True
        if stack:
            raise RewriteError("unbalanced brackets or blocks")
        parts, last = [PROLOGUE], 0
        for position, _, _, text in sorted(self.inserts):
            parts.append(self.code[last:position])
            parts.append(text)
            last = position
        parts.append(self.code[last:])
        return "".join(parts)

    def _close_constructor(self, constructor: _Constructor, closing: _Token) -> None:
        close = "".join(f", {key}" for key in constructor.keys) + ")"
        if constructor.call_argument_after is not None:
            self.insert(constructor.call_argument_after, _CALL, "(")
            close += ")"
        self.insert(constructor.open_at, _TABLE_OPEN, f" {TABLE}(")
        self.insert(closing.end, _CLOSE, close)

    def _key(self, first: int, closing: int, constructor: _Constructor) -> None:
        """Record the computed key ``[exp]`` made of tokens[first:closing]."""
        inner = self.tokens[first:closing]
        if not inner:
            raise RewriteError("empty key in a table constructor")
        if len(inner) == 1 and inner[0].kind in ("string", "number"):
            literal = self.text(inner[0])
            if "\n" not in literal and "\r" not in literal:  # keeps line numbers
                constructor.keys.append(literal)
                return
        self.insert(inner[0].start, _KEY_OPEN, f"{KEY}(")
        self.insert(inner[-1].end, _CLOSE, ")")
        constructor.keys.append(KEY)


_CALLABLE_ENDS = frozenset(("name", "string", ")", "]", "}"))
_Frame = TypeVar("_Frame", _Constructor, _Bracket)


def _pop(stack: list[_Constructor | _Bracket], expected: type[_Frame], token: _Token) -> _Frame:
    frame = stack.pop() if stack else None
    if not isinstance(frame, expected):
        raise RewriteError(f"unbalanced {token.kind!r} at offset {token.start}")
    return frame


def rewrite(code: str) -> str:
    """The script with every table constructor wrapped as described in the module docstring."""
    return _Rewriter(code).run()


def _tokens(code: str) -> Iterator[_Token]:
    """Lua 5.1 tokens, comments and whitespace skipped."""
    position, length = 0, len(code)
    while position < length:
        char = code[position]
        space = _SPACE.match(code, position)
        if space:
            position = space.end()
            continue
        if code.startswith("--", position):
            long = _LONG_OPEN.match(code, position + 2)
            if long:
                position = _long_end(code, long)
            else:
                newline = code.find("\n", position)
                position = length if newline < 0 else newline + 1
            continue
        if char in "\"'":
            end = _short_string_end(code, position)
            yield _Token("string", position, end)
            position = end
            continue
        if char == "[":
            long = _LONG_OPEN.match(code, position)
            if long:
                end = _long_end(code, long)
                yield _Token("string", position, end)
                position = end
                continue
        name = _NAME.match(code, position)
        if name:
            kind = "keyword" if name.group() in _KEYWORDS else "name"
            yield _Token(kind, position, name.end())
            position = name.end()
            continue
        number = _NUMBER.match(code, position)
        if number:
            yield _Token("number", position, number.end())
            position = number.end()
            continue
        operator = next((op for op in _OPERATORS if code.startswith(op, position)), char)
        yield _Token(operator, position, position + len(operator))
        position += len(operator)


def _short_string_end(code: str, start: int) -> int:
    quote, position = code[start], start + 1
    while position < len(code):
        char = code[position]
        if char == "\\":
            position += 3 if code.startswith("\r\n", position + 1) else 2
            continue
        if char == quote:
            return position + 1
        if char in "\r\n":
            break
        position += 1
    raise RewriteError(f"unfinished string at offset {start}")


def _long_end(code: str, opening: re.Match[str]) -> int:
    closing = "]" + opening.group(1) + "]"
    end = code.find(closing, opening.end())
    if end < 0:
        raise RewriteError(f"unfinished long string or comment at offset {opening.start()}")
    return end + len(closing)
