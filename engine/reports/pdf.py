"""The session report as a PDF, drawn with Qt's PDF writer (QtGui only, offscreen).

This is the one place the engine uses Qt: no widgets, no window — QPainter on a QPdfWriter, so
the CLI and the GUI print the same sheet. The page holds the header (subject code, date,
protocol), one row per item (clinician grade, model proposal with a small distribution chart,
measurement, flags), the total against the protocol maximum, key frames with the skeleton
overlay, and the model versions with DEMO badges.
"""

import os
from pathlib import Path

import numpy as np

from engine.atomic import write_bytes
from engine.errors import InputError
from engine.reports.sheet import DEMO_NOTE, SessionReport
from engine.reports.signatures import draw_record_block

MARGIN = 40  # points
ROW = 34


def _gui_app():
    """A QGuiApplication for fonts and painting (offscreen when there is none yet)."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([])
    return app


def _image(rgb: np.ndarray):
    from PySide6.QtGui import QImage

    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def write_pdf(
    report: SessionReport, path: Path, key_frames: dict[str, np.ndarray] | None = None
) -> Path:
    """Write the report to ``path`` atomically; ``key_frames`` maps item id -> RGB image."""
    _gui_app()
    from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

    path = Path(path)
    buffer = QBuffer()  # painted in memory, then written atomically (engine.atomic)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(72)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    writer.setTitle(f"AQA Studio report {report.subject} {report.date}")
    painter = QPainter()
    if not painter.begin(writer):
        raise InputError(f"{path} cannot be written (the folder may not exist or be read-only).")
    page = writer.pageLayout().paintRectPixels(72)
    width = page.width() - 2 * MARGIN
    y = MARGIN

    def text(
        x, top, w, h, value, size=9, bold=False, colour="#000000", align=Qt.AlignmentFlag.AlignLeft
    ):
        font = QFont("DejaVu Sans", size)
        font.setBold(bold)
        painter.setFont(font)
        painter.setPen(QColor(colour))
        painter.drawText(
            QRectF(x, top, w, h),
            align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap,
            value,
        )

    def new_page():
        nonlocal y
        writer.newPage()
        y = MARGIN

    text(MARGIN, y, width, 24, "AQA Studio — session report", 16, True)
    y += 28
    text(
        MARGIN,
        y,
        width,
        16,
        f"Subject {report.subject}   ·   {report.protocol_name}   ·   {report.date}   ·   session {report.session_id}",
        10,
    )
    y += 20
    if report.demo_models:
        painter.fillRect(QRectF(MARGIN, y, width, 18), QColor("#fff3e0"))
        text(
            MARGIN + 4,
            y,
            width - 8,
            18,
            f"DEMO: proposals come from a {DEMO_NOTE}.",
            9,
            True,
            "#e65100",
        )
        y += 24
    columns = [
        ("Item", 0.30),
        ("Range", 0.07),
        ("Clinician", 0.09),
        ("Model", 0.14),
        ("Distribution", 0.22),
        ("Measurement", 0.18),
    ]
    x = MARGIN
    painter.fillRect(QRectF(MARGIN, y, width, 18), QColor("#e3f2fd"))
    for title, share in columns:
        text(x + 2, y, share * width, 18, title, 9, True)
        x += share * width
    y += 20
    for row in report.items:
        if y + ROW > page.height() - MARGIN:
            new_page()
        x = MARGIN
        clinician = "—" if row.grade is None else f"{row.grade:g}"
        model = "—"
        if row.proposal_grade is not None:
            model = f"{row.proposal_grade:g} (E {row.expected_score:.2f})"
            if row.uncertain:
                model += " ⚠"
            if row.demo:
                model += " DEMO"
        cells = [row.name, row.range, clinician, model, None, row.measurement]
        for (_title, share), value in zip(columns, cells):
            w = share * width
            if value is None:
                _bars(
                    painter,
                    QRectF(x + 2, y + 3, w - 6, ROW - 6),
                    row.grade_probs,
                    row.grades,
                    row.grade,
                )
            else:
                text(x + 2, y, w - 4, ROW, value, 8)
            x += w
        painter.setPen(QPen(QColor("#cccccc")))
        painter.drawLine(int(MARGIN), int(y + ROW), int(MARGIN + width), int(y + ROW))
        y += ROW
    y += 8
    text(MARGIN, y, width, 18, f"Total (clinician grades): {report.completeness}", 11, True)
    y += 26
    y = draw_record_block(
        report, text, MARGIN, y, width, page.height() - MARGIN, lambda: new_page() or MARGIN
    )
    if key_frames:
        thumb_w = (width - 20) / 3
        x = MARGIN
        for n, (item, frame) in enumerate(key_frames.items()):
            image = _image(frame)
            thumb_h = thumb_w * image.height() / max(image.width(), 1)
            if n % 3 == 0 and n:
                x = MARGIN
                y += thumb_h + 22
            if y + thumb_h + 20 > page.height() - MARGIN:
                new_page()
            painter.drawImage(QRectF(x, y, thumb_w, thumb_h), image)
            text(x, y + thumb_h, thumb_w, 16, item, 8)
            x += thumb_w + 10
        y += thumb_h + 26
    if y + 40 > page.height() - MARGIN:
        new_page()
    models = ", ".join(report.models) or "none"
    text(
        MARGIN,
        y,
        width,
        28,
        f"Models: {models}. The clinician's grade is the record; model grades are proposals.",
        8,
        colour="#555555",
    )
    painter.end()
    return write_bytes(path, bytes(buffer.data()))


def _bars(painter, rect, probs: list[float], grades: list[float], clinician: float | None) -> None:
    """A small bar chart of the proposal; the clinician's grade bar is outlined."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QPen

    if not probs:
        return
    n = len(probs)
    step = rect.width() / n
    painter.setPen(QPen(QColor("#999999")))
    painter.drawLine(int(rect.left()), int(rect.bottom()), int(rect.right()), int(rect.bottom()))
    for i, p in enumerate(probs):
        h = max(1.0, float(p) * rect.height())
        bar = QRectF(rect.left() + i * step + 1, rect.bottom() - h, step - 2, h)
        painter.fillRect(bar, QColor("#1565c0"))
        if clinician is not None and i < len(grades) and grades[i] == clinician:
            painter.setPen(QPen(QColor("#e65100"), 1.5))
            painter.drawRect(bar)
