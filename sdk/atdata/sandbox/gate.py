"""The lexical gate: bounds on lens source checked before anything parses it.

Parsers recurse. libcst's native parser crashed the whole process (SIGSEGV) on about 1,300
levels of brackets inside an f-string and ran for minutes on a 20,000-term operator chain inside
one; CPython's own compiler has similar limits. So before any parser sees lens code, this gate
reads it as a flat stream of tokens, with loops and explicit counters only (it cannot itself be
driven into recursion), and refuses code that is too large, too long, nested too deep or holds
too many operators in one statement. It looks *inside* f-strings too: on Python 3.11 the
tokenizer returns an f-string as one string token, so its replacement fields, format specs and
nested strings are scanned here character by character, with their brackets and operators counted
against the statement that holds them.

The bounds are in :mod:`atdata.sandbox.dialect` (``MAX_*``). What passes the gate is small and
shallow enough for libcst and CPython; the libcst check still runs in a child process
(:mod:`atdata.sandbox.checker`), so a parser defect the gate does not foresee costs a refusal, not
the caller.
"""

from __future__ import annotations

import io
import re
import tokenize

from atdata.errors import Violation
from atdata.sandbox import dialect as d

_CODING_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)
_CLOSERS = {")", "]", "}"}
_OPENERS = {"(", "[", "{"}
# Tokens that do not deepen an expression when repeated: separators and closing brackets.
_FLAT_OPS = {",", ":", ";", ")", "]", "}", "=", "->"}
_CHAIN_KEYWORDS = {"not", "and", "or", "if", "else", "lambda", "in", "is", "await"}
_STRING_PREFIX = re.compile(r"[A-Za-z]*")
_OPERATOR_CHARS = frozenset("+-*/%@&|^~<>=!.")
_FSTRING_FINISH = getattr(tokenize, "FSTRING_END", None)


class _Bounds:
    """Counters for the statement being read; ``why`` is set once a bound is broken."""

    def __init__(self) -> None:
        self.brackets = 0
        self.operators = 0
        self.tokens = 0
        self.why: str | None = None

    def depth(self, extra: int) -> bool:
        if self.brackets + extra > d.MAX_BRACKET_DEPTH:
            self.why = f"brackets nest more than {d.MAX_BRACKET_DEPTH} deep (f-strings included)"
        return self.why is None

    def operator(self, n: int = 1) -> bool:
        self.operators += n
        if self.operators > d.MAX_OPERATORS_PER_STATEMENT:
            limit = d.MAX_OPERATORS_PER_STATEMENT
            self.why = f"a statement holds more than {limit} operators (f-strings included)"
        return self.why is None

    def token(self, n: int = 1) -> bool:
        self.tokens += n
        if self.tokens > d.MAX_TOKENS:
            self.why = f"lens code holds more than {d.MAX_TOKENS} tokens"
        return self.why is None


def gate_text(source: str) -> tuple[list[Violation], bool]:
    """Violations found without parsing, and whether they make parsing unsafe or pointless."""
    if len(source) > d.MAX_SOURCE_CHARS:
        why = f"lens code is {len(source)} characters; the limit is {d.MAX_SOURCE_CHARS}"
        return [Violation(1, 0, why)], True
    if source.count("\n") >= d.MAX_LINES:
        return [Violation(1, 0, f"lens code has more than {d.MAX_LINES} lines")], True
    if "\x00" in source:
        line = source.count("\n", 0, source.index("\x00")) + 1
        return [Violation(line, 0, "NUL characters are not allowed")], True
    if source.startswith("\ufeff"):
        return [Violation(1, 0, "a byte-order mark is not allowed; lens code is plain UTF-8")], True
    for number, text in enumerate(source.splitlines()[:2], start=1):
        if _CODING_COOKIE.search(text):
            return [
                Violation(number, 0, "coding declarations are not allowed; lens code is always UTF-8")
            ], True
    return _token_pass(source)


def _token_pass(source: str) -> tuple[list[Violation], bool]:
    out: list[Violation] = []
    bounds = _Bounds()
    blocks = 0
    statement_start = (1, 0)
    previous_kind = tokenize.NEWLINE
    at_statement_start = True
    elif_chains: dict[int, int] = {}  # an elif chain is a nested tree to every parser
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            kind, text, (line, col) = tok.type, tok.string, tok.start
            bounds.token()
            starts_statement = at_statement_start
            if starts_statement and kind not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT,
                                                 tokenize.INDENT, tokenize.DEDENT):  # fmt: skip
                statement_start = (line, col)
            at_statement_start = kind == tokenize.NEWLINE or (
                at_statement_start
                and kind in (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.COMMENT)
            )
            if kind == tokenize.ERRORTOKEN and not text.isspace():
                out.append(Violation(line, col, f"invalid character {text!r}"))
            elif kind == tokenize.NAME:
                if not text.isascii():
                    out.append(Violation(line, col, f"identifier {text!r} is not ASCII"))
                elif text in _CHAIN_KEYWORDS:
                    bounds.operator()
                if starts_statement and text == "if":
                    elif_chains[col] = 0
                elif starts_statement and text == "elif":
                    elif_chains[col] = elif_chains.get(col, 0) + 1
                    if elif_chains[col] > d.MAX_ELIF_CHAIN:
                        why = f"an if statement has more than {d.MAX_ELIF_CHAIN} elif branches"
                        return [*out, Violation(line, col, why)], True
            elif kind == tokenize.INDENT:
                blocks += 1
                if blocks > d.MAX_BLOCK_DEPTH:
                    return [Violation(line, col, f"blocks nest more than {d.MAX_BLOCK_DEPTH} deep")], True
            elif kind == tokenize.DEDENT:
                blocks -= 1
            elif kind == tokenize.OP:
                if text in _OPENERS:
                    bounds.brackets += 1
                    bounds.depth(0)
                elif text in _CLOSERS:
                    bounds.brackets = max(bounds.brackets - 1, 0)
                if text not in _FLAT_OPS:
                    bounds.operator()
            elif kind == tokenize.STRING:
                if previous_kind == tokenize.STRING or previous_kind == _FSTRING_FINISH:
                    bounds.operator()  # implicit concatenation nests in libcst's tree
                _scan_string_token(text, line, col, bounds, out)
            elif kind == tokenize.NEWLINE:
                bounds.operators = 0
            elif kind not in (tokenize.COMMENT, tokenize.NL) and not _in_fstring(kind) and not text.isascii():
                out.append(Violation(line, col, f"non-ASCII text {text!r} outside strings and comments"))
            if kind not in (tokenize.NL, tokenize.COMMENT):
                previous_kind = kind
            if bounds.why is not None:
                return [*out, Violation(statement_start[0], statement_start[1], bounds.why)], True
    except (tokenize.TokenError, SyntaxError) as e:
        line, col = error_position(e)
        out.append(Violation(line, col, f"syntax error: {e.args[0] if e.args else e}"))
        return out, True
    return out, any(v.reason.startswith(("invalid character", "identifier")) for v in out)


def _in_fstring(kind: int) -> bool:
    # Python 3.12+ splits f-strings into FSTRING_START / FSTRING_MIDDLE / FSTRING_END tokens.
    return tokenize.tok_name.get(kind, "").startswith("FSTRING")


def _scan_string_token(text: str, line: int, col: int, bounds: _Bounds, out: list[Violation]) -> None:
    """Count what an f-string token holds: its fields' brackets, operators, tokens and names."""
    prefix = _STRING_PREFIX.match(text)
    assert prefix is not None
    if "f" not in prefix.group().lower():
        return
    _scan_fstring_body(text, line, col, bounds, out)


# Frames of the f-string scanner's explicit stack.
_LITERAL, _FIELD, _BRACKET, _SPEC, _STRING = range(5)


def _scan_fstring_body(text: str, line: int, col: int, bounds: _Bounds, out: list[Violation]) -> None:
    """Scan one f-string token (prefix and quotes included) with an explicit stack, no recursion.

    Each frame is ``(kind, quote, raw, is_f)``; ``_LITERAL`` is the text of an f-string,
    ``_FIELD`` a replacement field's expression, ``_BRACKET`` a bracket inside one, ``_SPEC`` a
    format spec (text that may hold nested fields), ``_STRING`` a plain string inside a field.
    """
    n = len(text)
    i = _STRING_PREFIX.match(text).end()  # type: ignore[union-attr]
    raw = "r" in text[:i].lower()
    quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else text[i]
    i += len(quote)
    stack: list[tuple[int, str, bool, bool]] = [(_LITERAL, quote, raw, True)]
    in_operator = False
    name_start = -1
    while i < n and stack:
        kind, q, is_raw, is_f = stack[-1]
        c = text[i]
        if kind in (_LITERAL, _SPEC, _STRING):
            name_start = -1
            in_operator = False
            if c == "\\" and not is_raw:
                i += 2
                continue
            if kind != _SPEC and text.startswith(q, i):
                stack.pop()
                i += len(q)
                continue
            if is_f or kind == _SPEC:
                if c == "{":
                    if kind == _LITERAL and text.startswith("{{", i):
                        i += 2
                        continue
                    stack.append((_FIELD, q, is_raw, is_f))
                    if not (bounds.depth(len(stack)) and bounds.token()):
                        return
                    i += 1
                    continue
                if c == "}":
                    if kind == _LITERAL and text.startswith("}}", i):
                        i += 2
                        continue
                    if kind == _SPEC:
                        stack.pop()  # the spec and the field it belongs to end together
                        if stack and stack[-1][0] == _FIELD:
                            stack.pop()
                    i += 1
                    continue
            i += 1
            continue
        # inside an expression: a field or a bracket within one
        if c.isalnum() or c == "_" or ord(c) > 127:
            if name_start < 0:
                name_start = i
                in_operator = False
                if not bounds.token():
                    return
            i += 1
            if i >= n or not (text[i].isalnum() or text[i] == "_" or ord(text[i]) > 127):
                word = text[name_start:i]
                name_start = -1
                if not word.isascii():
                    out.append(Violation(line, col, f"identifier {word!r} in an f-string is not ASCII"))
                elif word in _CHAIN_KEYWORDS and not bounds.operator():
                    return
                elif text[i : i + 1] in ("'", '"') and word.isalpha() and word.lower() in _PREFIXES:
                    i = _open_string(text, i, word, stack)
                    if not (bounds.depth(len(stack)) and bounds.token()):
                        return
            continue
        name_start = -1
        if c in ("'", '"'):
            i = _open_string(text, i, "", stack)
            if not (bounds.depth(len(stack)) and bounds.token()):
                return
            continue
        if c in "([{":
            stack.append((_BRACKET, q, is_raw, is_f))
            in_operator = False
            if not (bounds.depth(len(stack)) and bounds.token() and bounds.operator()):
                return
        elif c in ")]}":
            in_operator = False
            stack.pop()  # a bracket, or (for "}") the field itself
        elif c == ":" and kind == _FIELD:
            stack[-1] = (_SPEC, q, is_raw, is_f)
            in_operator = False
        elif c == "!" and kind == _FIELD and text[i + 1 : i + 2] != "=":
            in_operator = False  # a conversion (!r, !s, !a)
        elif c in _OPERATOR_CHARS:
            if not in_operator and not (bounds.operator() and bounds.token()):
                return
            in_operator = True
        else:
            in_operator = False
        i += 1


_PREFIXES = frozenset({"r", "u", "b", "f", "br", "rb", "fr", "rf"})


def _open_string(text: str, i: int, prefix: str, stack: list[tuple[int, str, bool, bool]]) -> int:
    """Push a string that starts at ``text[i]`` (its prefix already read); the index after its quote."""
    quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else text[i]
    lower = prefix.lower()
    stack.append((_LITERAL if "f" in lower else _STRING, quote, "r" in lower, "f" in lower))
    return i + len(quote)


def error_position(e: Exception) -> tuple[int, int]:
    if isinstance(e, SyntaxError):
        return e.lineno or 1, max((e.offset or 1) - 1, 0)
    if isinstance(e, tokenize.TokenError) and len(e.args) > 1:
        line, col = e.args[1]
        return line, col
    return 1, 0
