"""``aqa protocols``: the protocol catalog."""

from engine.cli.output import print_json, print_table
from engine.protocols import Protocol, catalog, get_protocol


def register(sub) -> None:
    p = sub.add_parser("protocols", help="list the protocols, or show one")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    inner = p.add_subparsers(dest="action", metavar="ACTION")
    show = inner.add_parser("show", help="items, grade ranges and maximum total of a protocol")
    show.add_argument("protocol", help="protocol id, e.g. cmas")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _as_dict(protocol: Protocol) -> dict:
    return {
        "id": protocol.id,
        "name": protocol.name,
        "kind": protocol.kind,
        "source": protocol.source,
        "max_total": protocol.max_total,
        "items": [
            {
                "id": i.id,
                "name": i.name,
                "range": [i.low, i.high],
                "grades": i.grades,
                "criteria": list(i.criteria),
                "criterion": None
                if i.criterion is None
                else {
                    "measure": i.criterion.measure,
                    "thresholds": list(i.criterion.thresholds),
                    "per_grade": i.criterion.per_grade,
                },
            }
            for i in protocol.items
        ],
    }


def run(args) -> int:
    if args.action == "show":
        protocol = get_protocol(args.protocol)
        if args.json:
            print_json(_as_dict(protocol))
            return 0
        print(f"{protocol.name} ({protocol.id}, {protocol.kind})")
        print(f"source: {protocol.source}")
        rows = [
            {
                "item": i.id,
                "name": i.name,
                "range": i.range_text(),
                "criterion": _criterion_text(i),
            }
            for i in protocol.items
        ]
        print_table(rows, ["item", "name", "range", "criterion"])
        if protocol.max_total is not None:
            print(f"maximum total: {protocol.max_total:g}")
        return 0
    protocols = list(catalog().values())
    if args.json:
        print_json([{k: v for k, v in _as_dict(p).items() if k != "items"} for p in protocols])
        return 0
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "kind": p.kind,
            "items": len(p.items),
            "max total": "-" if p.max_total is None else f"{p.max_total:g}",
        }
        for p in protocols
    ]
    print_table(rows, ["id", "name", "kind", "items", "max total"])
    return 0


def _criterion_text(item) -> str:
    c = item.criterion
    if c is None:
        return ""
    if c.thresholds:
        return f"{c.measure}: grade 1.. from " + ", ".join(f"{t:g}" for t in c.thresholds) + " s"
    return f"{c.measure}: {c.per_grade} per grade"
