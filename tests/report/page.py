"""The report page read back with html.parser: per section its title, images, tables and
"not available" paragraphs."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser

from matplotlib import image as mpimg

PNG_PREFIX = "data:image/png;base64,"
# section id -> heading, in page order
TITLES = {
    "quality": "Data quality",
    "ranking": "Recommendations: ALS and item similarity against baselines",
    "response": "Response model: calibration and AUC",
    "bandit": "Bandit arm posteriors per segment",
    "readout": "A/B readout: holdout vs treated users",
    "monitor": "Policy monitor",
    "loop": "Closed loop: cumulative reward and regret per policy",
    "ope": "Off-policy evaluation",
}


@dataclass
class ParsedTable:
    caption: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class ParsedSection:
    key: str
    title: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)   # (alt, src)
    tables: list[ParsedTable] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def table(self, caption_start: str) -> ParsedTable:
        matches = [t for t in self.tables if t.caption.startswith(caption_start)]
        assert len(matches) == 1, [t.caption for t in self.tables]
        return matches[0]


class ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.sections: dict[str, ParsedSection] = {}
        self.header_tables: list[ParsedTable] = []
        self._section: ParsedSection | None = None
        self._table: ParsedTable | None = None
        self._row: list[str] | None = None
        self._text: list[str] | None = None   # text being collected for the open element
        self._open = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = self.sections.setdefault(a["id"], ParsedSection(a["id"]))
        elif tag == "img":
            assert self._section is not None, "image outside a section"
            self._section.images.append((a.get("alt", ""), a["src"]))
        elif tag == "table":
            self._table = ParsedTable()
        elif tag == "tr":
            self._row = []
        elif tag in ("h1", "h2", "caption", "th", "td") or (tag == "p" and a.get("class") == "missing"):
            self._text, self._open = [], tag

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._open and self._text is not None:
            text = "".join(self._text).strip()
            self._text, self._open = None, ""
            if tag == "h1":
                self.title = text
            elif tag == "h2":
                self._section.title = text
            elif tag == "caption":
                self._table.caption = text
            elif tag in ("th", "td"):
                self._row.append(text)
            elif tag == "p":
                self._section.missing.append(text)
        elif tag == "tr":
            if self._row and not self._table.header:
                self._table.header = self._row
            elif self._row is not None:
                self._table.rows.append(self._row)
            self._row = None
        elif tag == "table":
            (self._section.tables if self._section else self.header_tables).append(self._table)
            self._table = None
        elif tag == "section":
            self._section = None


def parse_report(html: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html)
    parser.close()
    return parser


def decode_png(src: str):
    """The image array of a data-URI PNG (fails on anything that is not a decodable PNG)."""
    assert src.startswith(PNG_PREFIX), src[:40]
    data = base64.b64decode(src[len(PNG_PREFIX):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    return pixels
