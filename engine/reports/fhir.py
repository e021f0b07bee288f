"""FHIR R4 resources for CMAS: a ``Questionnaire`` written for AQA Studio (no CMAS
Questionnaire is published) and a ``QuestionnaireResponse`` per visit, in a ``Bundle``.

``fhir.resources`` is not installed next to the app's dependencies, so ``check`` validates the
structure itself against the R4 rules these resources use: required elements, value types,
``linkId`` uniqueness and answers within each item's ``answerOption``.
"""

import re
from typing import Any

from engine.errors import InputError
from engine.protocols import Protocol

CANONICAL = "urn:aqa-studio:questionnaire:cmas"
PSEUDONYMS = "urn:aqa-studio:pseudonym"


def questionnaire(protocol: Protocol) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": CANONICAL,
        "version": "1",
        "name": "CMAS",
        "title": protocol.name,
        "status": "draft",
        "description": f"Written for AQA Studio from: {protocol.source}.",
        "item": [
            {
                "linkId": item.id,
                "text": item.name,
                "type": "choice",
                "required": False,
                "answerOption": [{"valueInteger": g} for g in item.grades],
            }
            for item in protocol.items
        ]
        + [
            {
                "linkId": "total",
                "text": f"Total (0-{protocol.max_total:g})",
                "type": "integer",
                "readOnly": True,
            }
        ],  # fmt: skip
    }


def response(visit: dict[str, Any]) -> dict[str, Any]:
    graded = [i for i in visit["items"] if i["grade"] is not None]
    complete = len(graded) == len(visit["items"])
    items = [{"linkId": i["item"], "answer": [{"valueInteger": int(i["grade"])}]} for i in graded]
    if visit["total"] is not None:
        items.append({"linkId": "total", "answer": [{"valueInteger": int(visit["total"])}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": CANONICAL,
        "status": "completed" if complete else "in-progress",
        "subject": {
            "identifier": {"system": PSEUDONYMS, "value": visit["subject"]},
            "display": visit["subject"],
        },  # fmt: skip
        "item": items,
    } | ({"authored": visit["date"]} if visit["date"] else {})  # unreadable dates are left out


def bundle(visits: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    resources = [questionnaire(protocol)] + [response(v) for v in visits]
    for resource in resources[1:]:
        check(resource, resources[0])
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def check(answer: dict[str, Any], form: dict[str, Any]) -> None:
    """Raise InputError when a QuestionnaireResponse breaks the rules of R4 or of ``form``."""
    options = {i["linkId"]: i for i in form["item"]}
    if len(options) != len(form["item"]):
        raise InputError("The CMAS Questionnaire has duplicate linkIds.")
    if answer.get("status") not in ("in-progress", "completed", "amended", "entered-in-error",
                                    "stopped"):  # fmt: skip
        raise InputError(f"QuestionnaireResponse.status {answer.get('status')!r} is not valid.")
    if answer.get("questionnaire") != form["url"]:
        raise InputError("A QuestionnaireResponse does not name the CMAS Questionnaire.")
    if "authored" in answer and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", answer["authored"]):
        raise InputError(f"QuestionnaireResponse.authored {answer['authored']!r} is not a date.")
    for entry in answer["item"]:
        spec = options.get(entry["linkId"])
        values = [a.get("valueInteger") for a in entry.get("answer", [])]
        if spec is None or len(values) != 1 or not isinstance(values[0], int):
            raise InputError(f"The answer to {entry['linkId']!r} is not one integer of the form.")
        allowed = [o["valueInteger"] for o in spec.get("answerOption", [])]
        if allowed and values[0] not in allowed:
            raise InputError(f"The answer {values[0]} to {entry['linkId']!r} is not an option.")
