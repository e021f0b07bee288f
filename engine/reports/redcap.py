"""A REDCap import file and data dictionary for a CMAS instrument.

Field names: ``record_id`` (the export's pseudonym), ``redcap_event_name`` (``visit_N_arm_1``,
a longitudinal project with one event per visit), ``cmas_date`` (shifted), one integer radio
field per item (``cmas_<item id>``), ``cmas_total`` and the form's status ``cmas_complete``
(2 complete when every item has a grade, else 0 incomplete) — REDCap's own conventions.
"""

from typing import Any

from engine.protocols import Protocol

FORM = "cmas"
DICTIONARY_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def fields(protocol: Protocol) -> list[str]:
    items = [f"{FORM}_{i.id}" for i in protocol.items]
    return ["record_id", "redcap_event_name", f"{FORM}_date", *items, f"{FORM}_total",
            f"{FORM}_complete"]  # fmt: skip


def records(visits: list[dict[str, Any]], protocol: Protocol) -> list[dict[str, Any]]:
    rows = []
    for visit in visits:
        grades = {i["item"]: i["grade"] for i in visit["items"]}
        row = {
            "record_id": visit["subject"],
            "redcap_event_name": f"visit_{visit['visit']}_arm_1",
            f"{FORM}_date": visit["date"],
            f"{FORM}_total": "" if visit["total"] is None else f"{visit['total']:g}",
            f"{FORM}_complete": 2 if all(g is not None for g in grades.values()) else 0,
        }
        for item in protocol.items:
            grade = grades.get(item.id)
            row[f"{FORM}_{item.id}"] = "" if grade is None else int(grade)
        rows.append(row)
    return rows


def dictionary(protocol: Protocol) -> list[dict[str, str]]:
    def field(name, kind, label, **extra) -> dict[str, str]:
        row = dict.fromkeys(DICTIONARY_COLUMNS, "")
        row.update({"Variable / Field Name": name, "Form Name": FORM, "Field Type": kind,
                    "Field Label": label, **extra})  # fmt: skip
        return row

    rows = [
        field("record_id", "text", "Pseudonym (AQA Studio export)"),
        field(
            f"{FORM}_date",
            "text",
            "Exam date (shifted)",
            **{"Text Validation Type OR Show Slider Number": "date_ymd"},
        ),  # fmt: skip
    ]
    for item in protocol.items:
        choices = " | ".join(f"{g}, {g}" for g in item.grades)
        rows.append(
            field(
                f"{FORM}_{item.id}",
                "radio",
                item.name,
                **{"Choices, Calculations, OR Slider Labels": choices},
            )  # fmt: skip
        )
    total = " + ".join(f"[{FORM}_{i.id}]" for i in protocol.items)
    rows.append(
        field(f"{FORM}_total", "calc", f"CMAS total (0-{protocol.max_total:g})",
              **{"Choices, Calculations, OR Slider Labels": f"sum({total.replace(' + ', ',')})"})
    )  # fmt: skip
    return rows
