"""An automation's texts: templates whose values come from the ticket, inserted so they cannot become markup.

A comment or Slack text in an automation is written in the rules YAML with placeholders::

    comment: "Urgent: {summary} (reported by {reporter}). Customer tier: {field:Customer tier}."

``{name}`` is one of :data:`VALUES`; ``{field:NAME}`` is the ticket's field NAME (its display name, as in
conditions); ``{{`` and ``}}`` are literal braces. Anything else is a configuration error naming the key when
the rules are loaded. A value is one line of visible text, bounded: in a tracker comment it is escaped with
:func:`bot.text.untrusted` (a summary cannot mention people, link or render), in Slack with
:func:`bot.text.visible` (the notifier escapes Slack's own markup). The template's own words are the admin's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: The values a template may name, and what each is.
VALUES: Mapping[str, str] = {
    "key": "the ticket's key (a Zendesk ticket number)",
    "summary": "its summary (Zendesk: subject)",
    "status": "its status",
    "kind": "its kind (issue type; Zendesk: form or type)",
    "project": "its project (Zendesk: group)",
    "assignee": "the assignee's e-mail",
    "reporter": "the reporter's (requester's) e-mail",
    "actor": "who did what triggered the automation (e-mail or name)",
    "url": "where the ticket is opened",
    "comment": "the comment that triggered the automation",
    "trigger": "what triggered the automation, in words",
}
FIELD = "field:"
_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class Template:
    """A checked template: literal text and the values it names, in order."""

    source: str
    parts: tuple[tuple[str, str], ...]  # ("text", words) | ("value", name) | ("field", field name)

    @property
    def fields(self) -> tuple[str, ...]:
        """The ticket fields it names (``{field:Customer tier}``), for ``ticketbot check``."""
        return tuple(name for kind, name in self.parts if kind == "field")

    def render(self, value: Callable[[str], str], field: Callable[[str], str], escape: Callable[[str], str]) -> str:
        """The text, each value (``value(name)``, ``field(name)``) passed through ``escape``."""
        out = []
        for kind, name in self.parts:
            if kind == "text":
                out.append(name)
            else:
                out.append(escape(value(name) if kind == "value" else field(name)))
        return "".join(out)


def parse_template(text: str) -> Template:
    """``text`` as a :class:`Template`; a ValueError naming what is wrong (an unknown value, a lone brace)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a text is needed")
    parts: list[tuple[str, str]] = []
    at = 0
    for match in _PART.finditer(text):
        if match.start() > at:
            parts.append(("text", text[at:match.start()]))
        at = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(("text", token[0]))
            continue
        if match.group(1) is None:
            raise ValueError(f"a lone {token!r} at character {match.start() + 1}: write a literal brace as "
                             f"{token * 2} (values are written {{key}}, {{field:Customer tier}})")
        name = match.group(1).strip()
        if name.casefold().startswith(FIELD):
            field = name[len(FIELD):].strip()
            if not field:
                raise ValueError("{field:} names no field: write {field:Customer tier}")
            parts.append(("field", field))
        elif name in VALUES:
            parts.append(("value", name))
        else:
            raise ValueError(f"unknown value {{{name}}}; a text may use {', '.join('{' + v + '}' for v in VALUES)} "
                             "and {field:NAME} for a field of the ticket")
    if at < len(text):
        parts.append(("text", text[at:]))
    return Template(text, tuple(parts))
