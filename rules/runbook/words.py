"""Words: every text a runbook sends is a named template, in its block's language.

A rule module declares its texts once (:func:`template`): a name, the values the text may use, the English
text and its translations in the team's languages (``pt_BR=…``, ``sv=…``). A block picks its ``language``
and may override any template in the rules YAML::

    nfe_onboarding:
      language: pt-BR
      templates:
        follow_up_slack: "{customer} ({key}): ainda sem contato após {after}. Ligue hoje, por favor."

A template that names a value its text cannot have, an unknown template or an unknown language is a
configuration error when the rules are loaded (and in ``ticketbot check``), naming the block's key. Dates,
times and numbers are written the locale's way (Babel); values taken from a ticket are escaped by the
caller exactly as before (:func:`bot.text.untrusted` in comments, the notifier for Slack), so a template
changes the words, never what a value can do.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from babel.units import format_unit

from bot.calendar import BusinessDuration

ENGLISH = "en"


#: Business time in the languages the seed runbooks ship: (one, several) per unit; others say it in English.
_BUSINESS = {
    "en": {"day": ("business day", "business days"), "hour": ("business hour", "business hours")},
    "pt": {"day": ("dia útil", "dias úteis"), "hour": ("hora útil", "horas úteis")},
    "sv": {"day": ("arbetsdag", "arbetsdagar"), "hour": ("arbetstimme", "arbetstimmar")},
    "fi": {"day": ("arkipäivä", "arkipäivää"), "hour": ("työtunti", "työtuntia")},
}


def _fields(text: str, where: str) -> list[str]:
    """The value names ``text`` uses; a ValueError for anything but plain ``{name}`` (no format spec,
    conversion, attribute or index: a template only places values)."""
    names = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} (write a literal brace as {{{{ or }}}})") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{where}: {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not a plain {{value}}")
        names.append(name)
    return names


def language_tag(value: str) -> str:
    """``pt_br`` / ``pt-BR`` → ``pt-BR``; a ValueError for a language Babel (CLDR) does not know."""
    try:
        locale = Locale.parse(value.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"unknown language {value!r} (a tag such as en, pt-BR, sv, fi)") from None
    return "-".join(p for p in (locale.language, locale.territory) if p)


@dataclass(frozen=True)
class Template:
    name: str
    values: tuple[str, ...]
    texts: Mapping[str, str] = field(default_factory=dict)  # language tag -> text; "en" always

    def text(self, language: str) -> str:
        """The text in ``language``, else its base language (pt-BR → pt), else English."""
        base = language.split("-")[0]
        return self.texts.get(language) or self.texts.get(base) or self.texts[ENGLISH]

    def check(self, text: str, where: str) -> None:
        unknown = [n for n in _fields(text, where) if n not in self.values]
        if unknown:
            raise ValueError(f"{where}: unknown value(s) {', '.join('{' + n + '}' for n in unknown)}; "
                             f"template {self.name!r} has {', '.join('{' + v + '}' for v in self.values)}")


def template(name: str, values: str, en: str, **translations: str) -> Template:
    """A rule module's text: ``values`` the names it may use (space-separated), ``en`` the English text,
    ``translations`` the others by language (``pt_BR=…``). Checked here, when the module is imported."""
    made = Template(name, tuple(values.split()),
                    {ENGLISH: en, **{language_tag(k): v for k, v in translations.items()}})
    for language, text in made.texts.items():
        made.check(text, f"template {name!r} ({language})")
    return made


class Catalogue:
    """The templates of one rule module."""

    def __init__(self, *templates: Template) -> None:
        self.templates = {t.name: t for t in templates}
        if len(self.templates) != len(templates):
            raise ValueError("template names must be unique")

    def __getitem__(self, name: str) -> Template:
        return self.templates[name]

    def languages(self) -> set[str]:
        return {language for t in self.templates.values() for language in t.texts}

    def check(self, overrides: Mapping[str, str]) -> None:
        """A ValueError naming each override that is no template or names a value it cannot have."""
        problems = []
        for name, text in overrides.items():
            if name not in self.templates:
                problems.append(f"templates.{name}: no such template (known: {', '.join(sorted(self.templates))})")
                continue
            try:
                self.templates[name].check(text, f"templates.{name}")
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))


class Words:
    """Renders a catalogue's templates for one block: its language, its overrides, its time zone."""

    def __init__(self, catalogue: Catalogue, language: str = ENGLISH, overrides: Mapping[str, str] | None = None,
                 zone: ZoneInfo | None = None) -> None:
        self.catalogue, self.language, self.overrides = catalogue, language, dict(overrides or {})
        self.locale = Locale.parse(language.replace("-", "_"))
        self.zone = zone

    def __call__(self, name: str, **values: Any) -> str:
        template = self.catalogue[name]
        text = self.overrides.get(name) or template.text(self.language)
        missing = [v for v in template.values if v not in values]
        if missing:  # the rule module's own mistake, not the site's: fail loudly in its tests
            raise KeyError(f"template {name!r} rendered without {missing}")
        return text.format_map({k: self.value(v) for k, v in values.items()})

    def value(self, value: Any) -> str:
        """A value the locale's way: a moment in the block's time zone, a date, a number."""
        if isinstance(value, datetime):
            local, locale = value.astimezone(self.zone) if self.zone is not None else value, self.locale
            # CLDR puts a narrow no-break space before "AM"/"PM": a character that does not print, and nothing
            # ticketbot writes has one (tests/hostile); a plain space reads the same.
            time = format_time(local, "short", locale=locale).replace("\u202f", " ")
            return f"{format_date(local, 'medium', locale=locale)} {time}"
        if isinstance(value, BusinessDuration):
            return self.business(value)
        if isinstance(value, timedelta):
            return self.duration(value)
        if isinstance(value, date):
            return format_date(value, "long", locale=self.locale)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return format_decimal(value, locale=self.locale)
        return str(value)

    def duration(self, value: timedelta) -> str:
        """``60 dias``, ``48 timmar``: a clock delay in the largest whole unit (CLDR unit names); hours up to two
        days, as people say them ("within 48 hours")."""
        for unit, size in (("day", timedelta(days=1)), ("hour", timedelta(hours=1)), ("minute", timedelta(minutes=1))):
            if value % size == timedelta(0) and not (unit == "day" and value <= timedelta(days=2)):
                return format_unit(value // size, f"duration-{unit}", length="long", locale=self.locale)
        return format_unit(value.total_seconds(), "duration-second", length="long", locale=self.locale)

    def business(self, value: BusinessDuration) -> str:
        """``5 dias úteis``, ``3 arbetsdagar``: business time in the block's language (English when it has none)."""
        names = _BUSINESS.get(self.locale.language, _BUSINESS["en"])
        parts = []
        hours = value.time / timedelta(hours=1)
        for amount, unit in ((value.days, "day"), (hours, "hour")):
            if amount:
                one, several = names[unit]
                parts.append(f"{format_decimal(amount, locale=self.locale)} {one if amount == 1 else several}")
        return " ".join(parts) or f"0 {names['hour'][1]}"
