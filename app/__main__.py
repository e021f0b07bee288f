"""``aqa-studio``: start the desktop app (torch is not imported before the window shows)."""

import argparse
import multiprocessing
import sys
from pathlib import Path


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aqa-studio", description="AQA Studio desktop app")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PATH", help="render the main window to PATH and exit"
    )
    parser.add_argument("--session", type=int, help="with --screenshot: the session to show")
    parser.add_argument("--recording", type=int, help="with --screenshot: the recording to show")
    parser.add_argument(
        "--quit-after", type=int, metavar="MS", help="close the window after MS milliseconds"
    )
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="check the installation offscreen with a temporary database, print each check, exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = parse(argv)
    if args.selftest:
        from app.selftest import run

        return run()
    if args.screenshot:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.display_check import display_problem

    problem = display_problem()
    if problem:
        print(f"aqa-studio: {problem}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.main_window import MainWindow
    from app.settings import Settings
    from engine.errors import AqaError
    from engine.store import Store

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("AQA Studio")
    settings = Settings()
    settings.apply_data_dir()
    try:
        store = Store()
    except AqaError as exc:
        QMessageBox.critical(None, "AQA Studio", str(exc))
        return exc.exit_code
    from app.login import login_at_start

    if not login_at_start(store):
        return 1
    window = MainWindow(store, settings)
    window.show()
    if args.screenshot:
        return screenshot(qt_app, window, args)
    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, window.close)
    from app.worker import worker

    QTimer.singleShot(0, worker().start)  # the engine loads in its own process meanwhile
    code = qt_app.exec()
    worker().stop()
    store.close()
    dispose(qt_app, window)
    return code


def dispose(qt_app, window) -> None:
    """Delete the window's Qt objects while Python is still whole (pyqtgraph items left to the
    interpreter's final garbage collection can crash it on the way out)."""
    window.deleteLater()
    qt_app.processEvents()
    import gc

    gc.collect()


def screenshot(qt_app, window, args) -> int:
    """Select what was asked for, let the window settle, save it as a PNG."""
    from engine.errors import AqaError

    try:
        if args.recording is not None:
            window.tree.select("recording", args.recording)
        elif args.session is not None:
            window.store.session(args.session)
            window.tree.select("session", args.session)
    except AqaError as exc:
        print(f"aqa-studio: {exc}", file=sys.stderr)
        return exc.exit_code
    for _ in range(20):
        qt_app.processEvents()
    window.jobs.wait(60_000)
    qt_app.processEvents()
    ok = window.grab().save(str(args.screenshot))
    window.close()
    window.store.close()
    dispose(qt_app, window)
    if not ok:
        print(
            f"aqa-studio: the screenshot could not be written to {args.screenshot}.",
            file=sys.stderr,
        )
        return 2
    print(f"screenshot written: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
