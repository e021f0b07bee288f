"""``aqa-studio``: start the desktop app."""

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aqa-studio", description="AQA Studio desktop app")
    parser.add_argument(
        "--quit-after", type=int, metavar="MS", help="close the window after MS milliseconds"
    )
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.main_window import MainWindow
    from engine.errors import AqaError
    from engine.store import Store

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("AQA Studio")
    try:
        store = Store()
    except AqaError as exc:
        QMessageBox.critical(None, "AQA Studio", str(exc))
        return exc.exit_code
    window = MainWindow(store)
    window.show()
    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, window.close)
    code = qt_app.exec()
    store.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
