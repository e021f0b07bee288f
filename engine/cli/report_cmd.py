"""``aqa report`` and ``aqa export``: the session sheet and de-identified exports."""

from pathlib import Path

from engine.cli.output import print_json


def register(sub) -> None:
    p = sub.add_parser("report", help="the session's sheet as PDF, CSV or JSON")
    p.add_argument("session", type=int, help="session id (see `aqa session list`)")
    p.add_argument("--pdf", type=Path, help="write the PDF report here")
    p.add_argument("--csv", type=Path, help="write the per-item CSV here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_report)

    e = sub.add_parser("export", help="export every session for research")
    e.add_argument(
        "--deidentified",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the export: pseudonyms, shifted dates, no ids, no names, no free text",
    )
    e.add_argument(
        "--key-file",
        type=Path,
        help="also write pseudonym -> subject code here (outside DIR; keep it apart)",
    )
    e.add_argument(
        "--free-text", action="store_true", help="include session notes and rating reasons"
    )
    e.set_defaults(func=run_export)


def run_report(args) -> int:
    from engine.reports.pdf import write_pdf
    from engine.reports.sheet import session_report
    from engine.reports.tables import report_rows, write_csv
    from engine.store import Store

    with Store() as store:
        report = session_report(store, args.session)
        if args.pdf:
            from engine.reports.key_frames import session_key_frames

            frames = session_key_frames(store, args.session)
            print(f"PDF report written: {write_pdf(report, args.pdf, frames)}")
    if args.csv:
        print(f"CSV written: {write_csv(report_rows(report), args.csv)}")
    if args.json:
        print_json(report.to_dict())
    if not (args.pdf or args.csv or args.json):
        print(f"{report.subject} {report.date} {report.protocol_name}: {report.completeness}")
        print("add --pdf FILE, --csv FILE or --json for the full report")
    return 0


def run_export(args) -> int:
    from engine.reports.export import export_deidentified
    from engine.store import Store

    with Store() as store:
        done = export_deidentified(store, args.deidentified, args.key_file, args.free_text)
    print(
        f"exported {done['sessions']} sessions of {done['subjects']} subjects to "
        f"{args.deidentified} (pseudonyms, dates shifted per subject by 1-365 days)"
    )
    if done["clamped"]:
        print(
            f"note: {done['clamped']} dates were clamped to 1900-01-01..9999-12-31 "
            "(or, unreadable, left empty)"
        )
    for name in sorted(done["files"]):
        print(f"  {name}: {done['files'][name]}")
    return 0
