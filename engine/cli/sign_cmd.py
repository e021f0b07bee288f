"""``aqa sign`` and ``aqa unlock``: e-signatures that lock a session, and voiding them."""

from engine.store.signatures import MEANINGS


def register(sub) -> None:
    sign = sub.add_parser("sign", help="sign a session (the password is asked again)")
    sign.add_argument("session", type=int, help="session id (see `aqa session list`)")
    sign.add_argument(
        "--meaning", required=True, choices=MEANINGS, help="what the signature attests"
    )
    sign.set_defaults(func=run_sign)
    unlock = sub.add_parser("unlock", help="admin: unlock a signed session (voids its signatures)")
    unlock.add_argument("session", type=int, help="session id")
    unlock.add_argument("--reason", required=True, help="why it is unlocked (kept in the history)")
    unlock.set_defaults(func=run_unlock)


def run_sign(args) -> int:
    from engine.cli import read_password
    from engine.store import Store

    with Store() as store:
        name = store.current_user()["name"]
        password = read_password(args.password_stdin, f"password for {name} (to sign): ")
        row = store.sign(args.session, args.meaning, password)
    print(
        f"session {args.session} signed: {row['meaning']} by {row['printed_name']} at "
        f"{row['signed_at']} (content SHA-256 {row['content_sha256'][:16]}…); it is now locked"
    )
    return 0


def run_unlock(args) -> int:
    from engine.store import Store

    with Store() as store:
        voided = store.unlock(args.session, args.reason)
    for sig in voided:
        print(f"signature {sig['id']} ({sig['meaning']} by {sig['printed_name']}) is now VOID")
    print(f"session {args.session} unlocked: {args.reason}")
    return 0
