"""Prescribing safety checks against the shipped table (prescriptions/data/interactions.json).

Pure functions: given what is being prescribed, the patient's active allergies and what they
already take (current chart medications and other active prescriptions), list the warnings.
The table names medicines and classes; a medicine is matched in free text as a whole word
("Amoxicillin 500 mg capsules" is amoxicillin, which is a penicillin and a beta-lactam). An
allergy matches when the allergy's terms (its substance, a known class for it such as
"penicillin" → penicillins, and the classes of a medicine it names) meet the medicine's.

The table is small and not exhaustive (docs/prescriptions.md says so and where it comes from);
no warning never means "safe".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prescriptions.models import WarningKind, WarningSeverity

TABLE_PATH = Path(__file__).parent / "data" / "interactions.json"
_RANK = {WarningSeverity.CAUTION: 1, WarningSeverity.SERIOUS: 2, WarningSeverity.CONTRAINDICATED: 3}


@dataclass(frozen=True)
class Candidate:
    """A medicine being prescribed (item position) or already taken (position None)."""

    name: str
    position: int | None = None


@dataclass(frozen=True)
class AllergyFact:
    substance: str
    reaction: str = ""
    severe: bool = False


@dataclass(frozen=True)
class Warning:
    item_position: int
    kind: str
    severity: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "item_position": self.item_position,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class Table:
    drugs: dict[str, frozenset[str]]
    allergy_terms: dict[str, str]
    cross_reactions: tuple[dict[str, str], ...]
    interactions: tuple[dict[str, str], ...]
    version: str


@cache
def table() -> Table:
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return Table(
        drugs={name: frozenset(classes) for name, classes in raw["drugs"].items()},
        allergy_terms=dict(raw["allergy_terms"]),
        cross_reactions=tuple(raw["cross_reactions"]),
        interactions=tuple(raw["interactions"]),
        version=raw["version"],
    )


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9\- ]", " ", text.lower())).strip()


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"(?<![a-z0-9-]){re.escape(term)}(?![a-z0-9-])", text) is not None


def medicine_terms(name: str) -> frozenset[str]:
    """The table's medicines named in `name` and all their classes (empty if none is known)."""
    text = _normal(name)
    known = table().drugs
    terms: set[str] = set()
    for drug in sorted(known, key=len, reverse=True):
        if _mentions(text, drug):
            terms.add(drug)
            terms |= known[drug]
    # A class listed for a medicine may itself be a medicine (co-trimoxazole → trimethoprim).
    for term in list(terms):
        terms |= known.get(term, frozenset())
    return frozenset(terms)


def allergy_terms(substance: str) -> frozenset[str]:
    text = _normal(substance)
    terms = set(medicine_terms(substance))
    for word, term in table().allergy_terms.items():
        if _mentions(text, word):
            terms.add(term)
    if text:
        terms.add(text)
    return frozenset(terms)


def _label(name: str) -> str:
    return name.strip() or "this medicine"


def _allergy_warnings(item: Candidate, allergies: Iterable[AllergyFact]) -> list[Warning]:
    assert item.position is not None
    found: list[Warning] = []
    terms = medicine_terms(item.name)
    text = _normal(item.name)
    for allergy in allergies:
        wanted = allergy_terms(allergy.substance)
        reaction = f" (reaction: {allergy.reaction})" if allergy.reaction else ""
        if terms & wanted or any(_mentions(text, term) for term in wanted if term):
            severity = WarningSeverity.CONTRAINDICATED if allergy.severe else WarningSeverity.SERIOUS
            found.append(
                Warning(
                    item.position,
                    WarningKind.ALLERGY,
                    severity,
                    f"{_label(item.name)}: the patient is allergic to {allergy.substance}{reaction}.",
                )
            )
            continue
        for rule in table().cross_reactions:
            if rule["allergy"] in wanted and rule["drug"] in terms:
                found.append(
                    Warning(
                        item.position,
                        WarningKind.ALLERGY,
                        rule["severity"],
                        f"{_label(item.name)}: the patient is allergic to {allergy.substance}{reaction}. "
                        f"{rule['message']}",
                    )
                )
                break
    return found


def _interaction(a: frozenset[str], b: frozenset[str]) -> dict[str, str] | None:
    worst: dict[str, str] | None = None
    for rule in table().interactions:
        applies = (rule["a"] in a and rule["b"] in b) or (rule["a"] in b and rule["b"] in a)
        if applies and (worst is None or _RANK[rule["severity"]] > _RANK[worst["severity"]]):
            worst = rule
    return worst


def check(
    items: Iterable[Candidate], *, allergies: Iterable[AllergyFact], current: Iterable[Candidate]
) -> list[Warning]:
    """Warnings for `items` (positions set): allergies, interactions with what the patient takes
    and between the items themselves, and duplicates (a medicine already taken, or twice here)."""
    items = list(items)
    allergies = list(allergies)
    current = list(current)
    warnings: list[Warning] = []
    for item in items:
        warnings += _allergy_warnings(item, allergies)
        terms = medicine_terms(item.name)
        if not terms:
            continue
        drugs = {term for term in terms if term in table().drugs}
        others = [(other, False) for other in current] + [
            (other, True) for other in items if other.position is not None and other.position > (item.position or 0)
        ]
        for other, in_this_prescription in others:
            other_terms = medicine_terms(other.name)
            if not other_terms:
                continue
            where = "also on this prescription" if in_this_prescription else "which the patient already takes"
            same = drugs & {term for term in other_terms if term in table().drugs}
            named = {term for term in same if _mentions(_normal(item.name), term)}
            # The same medicine twice, whether already taken or twice on this prescription.
            if named:
                warnings.append(
                    Warning(
                        item.position or 0,
                        WarningKind.DUPLICATE,
                        WarningSeverity.CAUTION,
                        f"{_label(item.name)} duplicates {_label(other.name)}, {where}.",
                    )
                )
                continue
            rule = _interaction(terms, other_terms)
            if rule is not None:
                warnings.append(
                    Warning(
                        item.position or 0,
                        WarningKind.INTERACTION,
                        rule["severity"],
                        f"{_label(item.name)} with {_label(other.name)}, {where}: {rule['message']}",
                    )
                )
    return warnings
