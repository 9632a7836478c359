"""Chinese and English labels for every page, Chinese first (the branches' language).

The texts are data: one catalogue per language, ``locales/<lang>.toml``, one ``key = "text"``
line per entry. ``MESSAGES[key] = (zh, en)`` joins them. Keys are UI texts (``nav.lobby``) or the
label of an API value (``service_type.withdrawal``, ``event.ComplaintReceived``):
:meth:`Translator.label` falls back to the raw value for anything the catalogues do not know, so a
new value never breaks a page — but the unit tests require every value of the shared contracts to
have a label in both languages. Placeholders are ``str.format`` fields and must match in both
languages.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG = "zh"
LOCALES = Path(__file__).resolve().parent / "locales"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``nav.lobby = "..."`` is a nested table in TOML; the key is the dotted path."""
    for name, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", str(value)


def load_messages(directory: Path = LOCALES) -> dict[str, tuple[str, ...]]:
    """Every key with its text in each of :data:`LANGS`; a key missing from one catalogue fails
    at start-up, not on the page that needs it."""
    catalogues = {
        lang: dict(_flatten(tomllib.loads((directory / f"{lang}.toml").read_text(encoding="utf-8"))))
        for lang in LANGS
    }
    first = catalogues[LANGS[0]]
    for lang, texts in catalogues.items():
        if texts.keys() != first.keys():
            odd = sorted(texts.keys() ^ first.keys())
            raise ValueError(f"locales/{lang}.toml and locales/{LANGS[0]}.toml differ in keys: {odd}")
    return {key: tuple(catalogues[lang][key] for lang in LANGS) for key in first}


MESSAGES: Mapping[str, tuple[str, ...]] = load_messages()


def normalise_lang(value: str | None) -> str | None:
    """``zh`` / ``en`` (also ``zh-CN``, ``en_GB``), else None."""
    if not value:
        return None
    short = value.strip().lower().replace("_", "-").split("-")[0]
    return short if short in LANGS else None


@dataclass(frozen=True)
class Translator:
    lang: str = DEFAULT_LANG

    @property
    def index(self) -> int:
        return LANGS.index(self.lang)

    def __call__(self, key: str, **fields: object) -> str:
        """The text of ``key``; an unknown key shows itself (visible in review, never a crash)."""
        entry = MESSAGES.get(key)
        text = entry[self.index] if entry else key
        if fields:
            try:
                return text.format(**fields)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def label(self, kind: str, value: object) -> str:
        """The label of an API value (``label("service_type", "withdrawal")``); the raw value when
        the table has none (e.g. a category a bank added in its configuration)."""
        if value is None or value == "":
            return "—"
        key = f"{kind}.{value}"
        entry = MESSAGES.get(key)
        return entry[self.index] if entry else str(value)

    def has(self, kind: str, value: object) -> bool:
        return f"{kind}.{value}" in MESSAGES
