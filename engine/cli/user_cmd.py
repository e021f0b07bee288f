"""``aqa user add|list``: local accounts (the first needs no login and must be an admin)."""

from engine.cli.output import print_json, print_table
from engine.store.users import ROLES


def register(sub) -> None:
    user = sub.add_parser("user", help="user accounts: examiners, raters, admins")
    user_sub = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="add an account (an admin adds; the first needs none)")
    add.add_argument("name", help="login: letters, digits, '-', '_' and '.'")
    add.add_argument(
        "--role", required=True, choices=ROLES, help="what the user may do (admin adds users)"
    )
    add.add_argument("--full-name", help="the printed name on signatures (default: the login)")
    add.add_argument(
        "--password-stdin",
        dest="new_password_stdin",
        action="store_true",
        help="read the new password from stdin (after the admin's own, if one is read)",
    )
    ls = user_sub.add_parser("list", help="all accounts (no password hashes)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    user.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import read_password
    from engine.store import Store

    with Store() as store:
        if args.action == "list":
            rows = store.users()
            if args.json:
                print_json(rows)
            else:
                print_table(rows, ["id", "name", "full_name", "role", "created_at"])
            return 0
        password = read_password(args.new_password_stdin, f"new password for {args.name}: ")
        if not args.new_password_stdin:
            again = read_password(False, "the same password again: ")
            if again != password:
                from engine.errors import InputError

                raise InputError("The two passwords differ; nothing was changed.")
        row = store.add_user(args.name, args.role, password, args.full_name)
    print(f"user {row['name']} added ({row['role']}, printed name {row['full_name']!r})")
    return 0
