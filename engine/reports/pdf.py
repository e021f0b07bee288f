"""The session report as a PDF, drawn with Qt's PDF writer (QtGui only, offscreen).

This is the one place the engine uses Qt: no widgets, no window — QPainter on a QPdfWriter, so
the CLI and the GUI print the same sheet. The report is a list of *sections*, each a function
that draws on a ``Sheet`` and asks it for room first (``sheet.room(height)`` starts a new page
when the block would not fit, so a block never splits):

1. the header (subject code, protocol, date, session) and the DEMO warning;
2. the items that were examined: clinician grade, model proposal, its distribution over the
   item's grades with the expected score marked, the measurement; the other items on one line;
3. the total against the protocol maximum;
4. the review flags, each with its reason (``engine.flags``);
5. key frames with the skeleton overlay, the item's name and the time in the recording;
6. the models and what a proposal is;
7. the record's identity and signature block: ``identity_block`` below is its place, kept apart
   so the record module can draw there.

Every page ends with a footer "page x of y": the sections are laid out twice, first on a
throw-away writer to count the pages, then for real.
"""

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from engine.atomic import write_bytes
from engine.flags import MARK
from engine.reports.key_frames import KeyFrame
from engine.reports.sheet import DEMO_NOTE, ItemRow, SessionReport
from engine.reports.signatures import draw_record_block

MARGIN = 40  # points (the writer draws at 72 dpi: one unit is one point)
FOOTER = 24
ROW = 50
GAP = 10
BLUE, ORANGE, GREEN, RED, GREY = "#1565c0", "#e65100", "#2e7d32", "#b71c1c", "#555555"
COLUMNS = [  # title, share of the width
    ("Item", 0.22),
    ("Range", 0.07),
    ("Clinician", 0.09),
    ("Model", 0.12),
    ("Distribution", 0.28),
    ("Measurement", 0.22),
]
LEGEND = (
    "Distribution: the model's probability for each grade (bars over the grade axis). "
    "The orange ▼ and dashes mark the expected score, the probability-weighted mean grade; "
    "a green frame marks the clinician's grade."
)


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


class Sheet:
    """A painter on a PDF writer that knows where the next block goes and which page it is on."""

    def __init__(
        self, writer, report: SessionReport, frames: Mapping[str, KeyFrame], pages: int | None
    ):
        from PySide6.QtGui import QPainter

        self.writer, self.report, self.frames, self.pages = writer, report, frames, pages
        self.painter = QPainter()
        if not self.painter.begin(writer):
            raise OSError("the PDF writer cannot start")
        rect = writer.pageLayout().paintRectPixels(72)
        self.width = rect.width() - 2 * MARGIN
        self.bottom = rect.height() - MARGIN - FOOTER
        self.page, self.y = 1, MARGIN

    def room(self, height: float) -> None:
        """Start a new page unless ``height`` points still fit on this one."""
        if self.y + height > self.bottom and self.y > MARGIN + 30:
            self.new_page()

    def new_page(self) -> None:
        self.footer()
        self.writer.newPage()
        self.page += 1
        self.y = MARGIN
        self.text(MARGIN, self.y, self.width, 14, _title_line(self.report), 8, colour=GREY)
        self.y += 20

    def footer(self) -> None:
        of = f" of {self.pages}" if self.pages else ""
        self.text(
            MARGIN, self.bottom + 8, self.width, 14, f"page {self.page}{of}", 8, colour=GREY,
            align="right",
        )  # fmt: skip

    def finish(self) -> int:
        self.footer()
        self.painter.end()
        return self.page

    # -- drawing -------------------------------------------------------------------------------
    def font(self, size: float, bold: bool = False):
        from PySide6.QtGui import QFont

        font = QFont("DejaVu Sans")
        font.setPointSizeF(size)
        font.setBold(bold)
        return font

    def text_height(self, w: float, value: str, size: float = 9, bold: bool = False) -> float:
        """The height ``value`` takes when wrapped to ``w`` points."""
        from PySide6.QtCore import QRectF, Qt

        self.painter.setFont(self.font(size, bold))
        box = self.painter.boundingRect(QRectF(0, 0, w, 10_000), Qt.TextFlag.TextWordWrap, value)
        return box.height()

    def text(
        self, x, top, w, h, value: str, size=9, bold=False, colour="#000000", align="left"
    ) -> None:
        from PySide6.QtCore import QRectF, Qt
        from PySide6.QtGui import QColor

        flags = {
            "left": Qt.AlignmentFlag.AlignLeft,
            "right": Qt.AlignmentFlag.AlignRight,
            "center": Qt.AlignmentFlag.AlignHCenter,
        }[align]
        self.painter.setFont(self.font(size, bold))
        self.painter.setPen(QColor(colour))
        self.painter.drawText(
            QRectF(x, top, w, h), flags | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap,
            value,
        )  # fmt: skip

    def fill(self, x, top, w, h, colour: str) -> None:
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QColor

        self.painter.fillRect(QRectF(x, top, w, h), QColor(colour))

    def line(self, x1, y1, x2, y2, colour="#cccccc", width=1.0) -> None:
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QColor, QPen

        self.painter.setPen(QPen(QColor(colour), width))
        self.painter.drawLine(QPointF(x1, y1), QPointF(x2, y2))


# -- sections ----------------------------------------------------------------------------------
def _title_line(report: SessionReport) -> str:
    return (
        f"Subject {report.subject}   ·   {report.protocol_name}   ·   {report.date}   ·   "
        f"session {report.session_id}"
    )


def header(sheet: Sheet, report: SessionReport) -> None:
    sheet.text(MARGIN, sheet.y, sheet.width, 24, "AQA Studio — session report", 16, True)
    sheet.y += 28
    sheet.text(MARGIN, sheet.y, sheet.width, 16, _title_line(report), 10)
    sheet.y += 22
    if report.demo_models:
        sheet.fill(MARGIN, sheet.y, sheet.width, 18, "#fff3e0")
        note = f"DEMO: proposals come from a {DEMO_NOTE}."
        sheet.text(MARGIN + 4, sheet.y, sheet.width - 8, 18, note, 9, True, ORANGE)
        sheet.y += 24


def items_table(sheet: Sheet, report: SessionReport) -> None:
    examined = [r for r in report.items if _examined(r)]
    others = [r.name for r in report.items if not _examined(r)]
    if examined:
        legend_h = sheet.text_height(sheet.width, LEGEND, 8)
        sheet.room(legend_h + 24 + ROW)
        sheet.text(MARGIN, sheet.y, sheet.width, legend_h, LEGEND, 8, colour=GREY)
        sheet.y += legend_h + 4
        _column_titles(sheet)
    for row in examined:
        sheet.room(ROW)
        if sheet.y < MARGIN + 30:  # a new page: the titles again
            _column_titles(sheet)
        _item_row(sheet, row)
    if others:
        text = f"Not examined in this session ({len(others)}): " + ", ".join(others) + "."
        h = sheet.text_height(sheet.width, text, 8)
        sheet.room(h + 6)
        sheet.y += 4
        sheet.text(MARGIN, sheet.y, sheet.width, h, text, 8, colour=GREY)
        sheet.y += h + 2


def _examined(row: ItemRow) -> bool:
    return bool(row.recordings) or row.grade is not None or row.proposal_grade is not None


def _column_titles(sheet: Sheet) -> None:
    sheet.fill(MARGIN, sheet.y, sheet.width, 18, "#e3f2fd")
    x = MARGIN
    for title, share in COLUMNS:
        sheet.text(x + 2, sheet.y, share * sheet.width, 18, title, 9, True)
        x += share * sheet.width
    sheet.y += 20


def _item_row(sheet: Sheet, row: ItemRow) -> None:
    clinician = "—" if row.grade is None else f"{row.grade:g}"
    model = "—"
    if row.proposal_grade is not None:
        model = f"grade {row.proposal_grade:g}\nexpected {row.expected_score:.2f}"
        if row.flags:
            model += f"\n{MARK} see review"
        if row.demo:
            model += "\nDEMO model"
    measured = "\n".join(filter(None, [row.measurement, row.person and f"subject: {row.person}"]))
    cells = [row.name, row.range, clinician, model, None, measured]
    x = MARGIN
    for (_title, share), value in zip(COLUMNS, cells):
        w = share * sheet.width
        if value is None:
            distribution(sheet, x + 4, sheet.y + 4, w - 10, ROW - 8, row)
        else:
            colour = RED if value is model and row.flags else "#000000"
            sheet.text(x + 2, sheet.y, w - 4, ROW, value, 8, colour=colour)
        x += w
    sheet.line(MARGIN, sheet.y + ROW, MARGIN + sheet.width, sheet.y + ROW)
    sheet.y += ROW


def distribution(sheet: Sheet, x: float, top: float, w: float, h: float, row: ItemRow) -> None:
    """Bars over the grade axis (labelled), ▼ at the expected score, the clinician's bar outlined."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QPen, QPolygonF

    probs, grades = row.grade_probs, row.grades
    if not probs or len(grades) != len(probs):
        return
    axis_y = top + h - 11  # the grade labels go below the axis
    plot_top = top + 8  # room for the expected-score mark above the bars
    step = w / len(probs)
    painter = sheet.painter
    for i, (grade, p) in enumerate(zip(grades, probs)):
        bar_h = max(0.5, float(p) * (axis_y - plot_top))
        bar = QRectF(x + i * step + 2, axis_y - bar_h, step - 4, bar_h)
        painter.fillRect(bar, QColor(BLUE))
        if row.grade is not None and grade == row.grade:
            painter.setPen(QPen(QColor(GREEN), 1.5))
            painter.drawRect(QRectF(bar.left() - 1, plot_top, bar.width() + 2, axis_y - plot_top))
        sheet.text(
            x + i * step, axis_y + 1, step, 10, f"{grade:g}", 6.5, colour=GREY, align="center"
        )
    sheet.line(x, axis_y, x + w, axis_y, "#999999")
    if row.expected_score is not None and grades[-1] != grades[0]:
        # Grades sit at the bar centres: map the expected score onto the same axis.
        at = x + step * (0.5 + (row.expected_score - grades[0]) / (grades[1] - grades[0]))
        painter.setPen(QPen(QColor(ORANGE), 1))
        painter.setBrush(QColor(ORANGE))
        painter.drawPolygon(
            QPolygonF([QPointF(at - 3.5, top), QPointF(at + 3.5, top), QPointF(at, top + 6)])
        )
        painter.setBrush(QColor(0, 0, 0, 0))
        painter.setPen(QPen(QColor(ORANGE), 0.8, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(at, top + 6), QPointF(at, axis_y))


def total(sheet: Sheet, report: SessionReport) -> None:
    sheet.room(30)
    sheet.y += 8
    text = f"Total (clinician grades): {report.completeness}"
    sheet.text(MARGIN, sheet.y, sheet.width, 18, text, 11, True)
    sheet.y += 24


def flags(sheet: Sheet, report: SessionReport) -> None:
    lines = [f"{MARK} {row.name}: {f['text']}" for row in report.items for f in row.flags]
    if not lines:
        return
    heights = [sheet.text_height(sheet.width - 8, line, 8.5) for line in lines]
    sheet.room(20 + heights[0])
    sheet.text(MARGIN, sheet.y, sheet.width, 16, "Please review", 10, True, RED)
    sheet.y += 18
    for line, h in zip(lines, heights):
        sheet.room(h + 2)
        sheet.text(MARGIN + 8, sheet.y, sheet.width - 8, h, line, 8.5, colour=RED)
        sheet.y += h + 2
    sheet.y += GAP


def key_frames(sheet: Sheet, report: SessionReport) -> None:
    """Three pictures per row; a row never splits, the title stays with the first row."""
    frames = sheet.frames
    if not frames:
        return
    names = {row.item: row.name for row in report.items}
    per_row, gap = 3, 10
    thumb_w = (sheet.width - (per_row - 1) * gap) / per_row
    entries = list(frames.items())
    for start in range(0, len(entries), per_row):
        chunk = [
            (item, frame, _image(frame.image)) for item, frame in entries[start : start + per_row]
        ]
        row_h = max(thumb_w * img.height() / max(img.width(), 1) for _, _, img in chunk) + 28
        title = 22 if start == 0 else 0
        sheet.room(title + row_h)
        if start == 0:
            sheet.text(MARGIN, sheet.y, sheet.width, 18, "Key frames (skeleton overlay)", 10, True)
            sheet.y += title
        for n, (item, frame, image) in enumerate(chunk):
            from PySide6.QtCore import QRectF

            x = MARGIN + n * (thumb_w + gap)
            thumb_h = thumb_w * image.height() / max(image.width(), 1)
            sheet.painter.drawImage(QRectF(x, sheet.y, thumb_w, thumb_h), image)
            caption = f"{names.get(item, item)} — at {frame.time_s:.1f} s"
            if frame.recording_id is not None:
                caption += f" of recording {frame.recording_id}"
            sheet.text(x, sheet.y + thumb_h + 2, thumb_w, 24, caption, 7.5)
        sheet.y += row_h
    sheet.y += GAP


def models_note(sheet: Sheet, report: SessionReport) -> None:
    models = ", ".join(report.models) or "none"
    text = (
        f"Models: {models}. The clinician's grade is the record; model grades are proposals "
        f"to review, never a diagnosis."
    )
    h = sheet.text_height(sheet.width, text, 8)
    sheet.room(h + 4)
    sheet.text(MARGIN, sheet.y, sheet.width, h, text, 8, colour=GREY)
    sheet.y += h + GAP


def identity_block(sheet: Sheet, report: SessionReport) -> None:
    """The record's identities and e-signatures (``engine.reports.signatures``)."""

    def new_page() -> float:
        sheet.new_page()
        return sheet.y

    sheet.y = draw_record_block(
        report, sheet.text, MARGIN, sheet.y, sheet.width, sheet.bottom, new_page
    )


SECTIONS: list[Callable[[Sheet, SessionReport], None]] = [
    header,
    items_table,
    total,
    flags,
    key_frames,
    models_note,
    identity_block,
]


def write_pdf(
    report: SessionReport, path: Path, key_frames_by_item: Mapping[str, KeyFrame] | None = None
) -> Path:
    """Write the report to ``path`` atomically; ``key_frames_by_item`` maps item id -> KeyFrame."""
    _gui_app()
    from PySide6.QtCore import QBuffer, QIODevice

    frames = key_frames_by_item or {}
    buffers = [QBuffer(), QBuffer()]  # a scratch run counts the pages; the second is the file
    for buffer in buffers:
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pages = _draw(_writer(buffers[0], report), report, frames, None)
    _draw(_writer(buffers[1], report), report, frames, pages)
    return write_bytes(Path(path), bytes(buffers[1].data()))  # atomic: a failure keeps the old


def _writer(target, report: SessionReport):
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter

    writer = QPdfWriter(target)
    writer.setResolution(72)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    writer.setTitle(f"AQA Studio report {report.subject} {report.date}")
    return writer


def _draw(writer, report: SessionReport, frames: Mapping[str, KeyFrame], pages) -> int:
    """Lay the sections out on ``writer``; the number of pages used."""
    sheet = Sheet(writer, report, frames, pages)
    for section in SECTIONS:
        section(sheet, report)
    return sheet.finish()
