"""The words of a governance statement, and a cursor that reads them one at a time.

The tokenizer knows just enough SQL to cut a statement into words, quoted identifiers,
strings, numbers and symbols, each with the character it starts at, so that a parse
error names that character, and so that a data filter's ``WHERE`` predicate can be
kept as the text the user wrote, up to a top-level keyword. It never fails: an
unterminated string or quoted identifier is a token of its own, which only a
governance statement refuses (any other statement goes to DuckDB, which says why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from icehouse.errors import GovernanceSyntaxError


class Kind(Enum):
    WORD = "word"
    """A keyword or an unquoted identifier: keywords are matched case-insensitively."""
    QUOTED = "quoted identifier"
    STRING = "string"
    NUMBER = "number"
    SYMBOL = "symbol"
    UNTERMINATED = "unterminated quote"
    END = "end"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    """The value: an identifier or string unquoted (doubled quotes undone), else as written."""
    start: int
    """Where it starts in the statement (0-based character offset)."""
    end: int
    """Where it ends (the offset just after it)."""

    def is_word(self, *words: str) -> bool:
        """Whether it is one of these keywords (given in upper case)."""
        return self.kind is Kind.WORD and self.text.upper() in words

    def describe(self) -> str:
        """The token as an error message shows it."""
        if self.kind is Kind.END:
            return "the end of the statement"
        if self.kind is Kind.UNTERMINATED:
            return f"a quote that is never closed ({self.text[:20]!r})"
        if self.kind is Kind.STRING:
            return "'" + self.text.replace("'", "''") + "'"
        if self.kind is Kind.QUOTED:
            return '"' + self.text.replace('"', '""') + '"'
        return repr(self.text)


_TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*|/\*.*?\*/)
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<quoted>"(?:[^"]|"")*")
    |(?P<string>'(?:[^']|'')*')
    |(?P<unterminated>["'].*)
    |(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<symbol>::|<=|>=|<>|!=|\|\||\S)""",
    re.VERBOSE | re.DOTALL,
)
_KINDS = {
    "word": Kind.WORD,
    "quoted": Kind.QUOTED,
    "string": Kind.STRING,
    "unterminated": Kind.UNTERMINATED,
    "number": Kind.NUMBER,
    "symbol": Kind.SYMBOL,
}


def tokenize(sql: str) -> list[Token]:
    """Every token of ``sql``, comments and spaces left out, ending with an END token."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        group = match.lastgroup or "space"
        if group == "space":
            continue
        text = match.group()
        if group in ("quoted", "string"):
            text = text[1:-1].replace(text[0] * 2, text[0])
        tokens.append(Token(_KINDS[group], text, match.start(), match.end()))
    tokens.append(Token(Kind.END, "", len(sql), len(sql)))
    return tokens


class Cursor:
    """The tokens of one statement and how far the parser has read them; every
    ``expect_...`` raises GovernanceSyntaxError naming the token it stopped at."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.index = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at(self, *words: str) -> bool:
        """Whether the next tokens are these keywords, in this order."""
        return all(self.peek(i).is_word(word) for i, word in enumerate(words))

    def accept(self, *words: str) -> bool:
        """Read these keywords if they come next; whether they did."""
        if not self.at(*words):
            return False
        self.index += len(words)
        return True

    def expect(self, *words: str) -> None:
        """Raises: GovernanceSyntaxError unless these keywords come next."""
        for word in words:
            if not self.accept(word):
                raise self.error(word)

    def at_symbol(self, symbol: str) -> bool:
        token = self.peek()
        return token.kind is Kind.SYMBOL and token.text == symbol

    def accept_symbol(self, symbol: str) -> bool:
        if not self.at_symbol(symbol):
            return False
        self.next()
        return True

    def expect_symbol(self, symbol: str) -> None:
        """Raises: GovernanceSyntaxError unless ``symbol`` comes next."""
        if not self.accept_symbol(symbol):
            raise self.error(repr(symbol))

    def at_name(self) -> bool:
        return self.peek().kind in (Kind.WORD, Kind.QUOTED)

    def expect_name(self, what: str) -> str:
        """An identifier, unquoted or in double quotes (which keep case, spaces, symbols).

        Raises: GovernanceSyntaxError (``what`` says what the name was for)."""
        token = self.peek()
        if not self.at_name() or (token.kind is Kind.QUOTED and not token.text):
            raise self.error(what)
        if "." in token.text:
            raise self.error(f"{what} (a name may not hold '.': it separates a name's parts)")
        return self.next().text

    def expect_dotted(self, what: str, *, parts: int = 1) -> str:
        """``a.b.t``: at least ``parts`` names joined by dots, returned joined by dots.

        Raises: GovernanceSyntaxError."""
        names = [self.expect_name(what)]
        while self.accept_symbol("."):
            names.append(self.expect_name(f"the next part of {what}"))
        if len(names) < parts:
            raise self.error(f"'.' and the rest of {what}")
        return ".".join(names)

    def expect_string(self, what: str) -> str:
        """A string literal in single quotes. Raises: GovernanceSyntaxError."""
        if self.peek().kind is not Kind.STRING:
            raise self.error(what)
        return self.next().text

    def expect_list(self, what: str, read: str = "name") -> tuple[str, ...]:
        """``(a, b, ...)``: one or more names (``read="name"``) or strings, in parentheses.

        Raises: GovernanceSyntaxError."""
        self.expect_symbol("(")
        items = [self._item(what, read)]
        while self.accept_symbol(","):
            items.append(self._item(what, read))
        self.expect_symbol(")")
        return tuple(items)

    def _item(self, what: str, read: str) -> str:
        return self.expect_name(what) if read == "name" else self.expect_string(what)

    def expect_end(self) -> None:
        """The statement ends here (a closing ``;`` is allowed).

        Raises: GovernanceSyntaxError."""
        self.accept_symbol(";")
        if self.peek().kind is not Kind.END:
            raise self.error("the end of the statement")

    def error(self, expected: str, token: Token | None = None) -> GovernanceSyntaxError:
        """The error for ``token`` (default: the next one), which is not ``expected``."""
        token = token or self.peek()
        return GovernanceSyntaxError(
            sql=self.sql, position=token.start, expected=expected, found=token.describe()
        )
