"""Language packs: a keyword policy's built-in terms per language, and the options every such
policy shares to pick, extend and refine them (see :mod:`plugins.text` for the term syntax)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugins.text import COMMENT_SCOPES, Matcher, matcher


@dataclass(frozen=True)
class Pack:
    """The terms of one language, and what looks like them but is not (``exclude``)."""

    terms: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def clean_terms(values: list[str]) -> list[str]:
    """Terms as written, without surrounding blanks, blank ones left out."""
    return [v.strip() for v in values if v.strip()]


class PackOptions(BaseModel):
    """An admin's pack for one language: more terms and more exclusions."""

    model_config = ConfigDict(extra="forbid")

    terms: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    _terms = field_validator("terms", "exclude")(clean_terms)


class LanguageOptions(BaseModel):
    """Options shared by the keyword policies: which built-in packs to use (a subclass names
    its ``builtin_packs``), the admin's own packs and exclusions, and negation."""

    builtin_packs: ClassVar[Mapping[str, Pack]] = {}

    languages: list[str] = Field(
        default_factory=lambda: ["en", "de", "fr", "es", "pt", "it", "nl"],
        description="Built-in language packs to use (en, de, fr, es, pt, it, nl).")
    packs: dict[str, PackOptions] = Field(
        default_factory=dict,
        description="Your own terms and exclusions per language code, added to the built-in "
        "pack of that language (or making a new language): {terms = […], exclude = […]}. "
        "A term is a phrase (word* for any ending), 'a ... b' (near each other, in order), or "
        "re:<regular expression>.")
    exclude: list[str] = Field(
        default_factory=list,
        description="More phrases that look like a match but are not, in any language "
        "(a match overlapping one is ignored).")
    negation: bool = Field(True, description="Ignore a match right after a negation in the same "
                           "clause ('no need to escalate', 'pas besoin d'escalader').")

    @field_validator("languages")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        return [c.strip().lower() for c in codes if c.strip()]

    _exclusions = field_validator("exclude")(clean_terms)

    @model_validator(mode="after")
    def _known_languages(self) -> LanguageOptions:
        unknown = [c for c in self.languages
                   if c not in self.builtin_packs and c not in self.packs]
        if unknown:
            raise ValueError(f"languages: no pack for {', '.join(unknown)} (built in: "
                             f"{', '.join(self.builtin_packs)}; add one under packs)")
        return self


def comment_scope(default: str, what: str):
    """A ``comments`` option: which comments the policy reads."""
    return Field(default, description=f"Which comments {what} reads: customer (public comments "
                 "by the customer), public (agents' public replies too) or all (internal notes "
                 "too).", json_schema_extra={"enum": list(COMMENT_SCOPES)})


def check_scope(value: str) -> str:
    value = value.strip().lower()
    if value not in COMMENT_SCOPES:
        raise ValueError(f"expected one of {', '.join(COMMENT_SCOPES)}")
    return value


def pack_matcher(options: LanguageOptions, extra_terms: tuple[str, ...] = (), *,
                 builtin: bool = True) -> Matcher:
    """The matcher of the chosen built-in packs (unless ``builtin`` is false), the admin's packs
    and ``extra_terms``."""
    terms: list[str] = list(extra_terms)
    exclude: list[str] = list(options.exclude)
    for code in options.languages:
        pack = options.builtin_packs.get(code)
        if pack is not None:
            exclude += pack.exclude
            if builtin:
                terms += pack.terms
    for pack in options.packs.values():
        terms += pack.terms
        exclude += pack.exclude
    return matcher(tuple(terms), tuple(exclude), options.negation)
