"""A server-rendered SVG timeline of a citizen's interventions: one lane per department, signals on their own lane.

Pure string building (every text escaped); no JavaScript. Each bar carries a <title> (tooltip) and the chart has a
title and description for screen readers; the same data is in the tables below the chart on the page.
"""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

from samlet_overblik.access.views import DepartmentRecords, Record, Signal

COLOURS = {  # dark enough for white text, distinct in greyscale too (contrast >= 4.5:1 against white)
    "boern_familie": "#8a3b12",
    "beskaeftigelse": "#1f5f8b",
    "social_voksen": "#5b3c88",
    "sundhed_aeldre": "#2e6b30",
}
WIDTH, LABEL_W, ROW_H, BAR_H, PAD = 960, 190, 22, 16, 10


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _pack(items: list[tuple[date, date, Record]]) -> list[list[tuple[date, date, Record]]]:
    """Greedy interval packing: bars that do not overlap share a row."""
    rows: list[list[tuple[date, date, Record]]] = []
    ends: list[date] = []
    for s, e, it in sorted(items, key=lambda x: (x[0], x[1])):
        for i, end in enumerate(ends):
            if s > end + timedelta(days=3):
                rows[i].append((s, e, it))
                ends[i] = e
                break
        else:
            rows.append([(s, e, it)])
            ends.append(e)
    return rows


def timeline_svg(groups: list[DepartmentRecords], signals: list[Signal], reference: str, *, years: int = 5) -> str:
    ref = _d(reference) or date.today()
    lo = date(ref.year - years + 1, 1, 1)
    hi = date(ref.year + 1, 1, 1)
    span = (hi - lo).days
    plot_w = WIDTH - LABEL_W - PAD

    def x(d: date) -> float:
        d = min(max(d, lo), hi)
        return LABEL_W + plot_w * (d - lo).days / span

    parts: list[str] = []
    y = 30
    lanes = []
    n_bars = 0
    for g in groups:
        items = []
        for it in g.records:
            s = _d(it.start) or ref
            e = _d(it.end) or max(ref, s)
            if e < lo:
                continue
            items.append((s, e, it))
        rows = _pack(items) or [[]]
        lanes.append((g, rows, y))
        y += len(rows) * ROW_H + 8
    sig_y = y
    height = sig_y + ROW_H + 34
    desc = "; ".join(f"{g.name}: {len(g.records)} poster" for g in groups) + f"; {len(signals)} signaler"
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="tl-title tl-desc" class="tidslinje" font-family="system-ui, sans-serif" font-size="12">'
        f'<title id="tl-title">Tidslinje over indsatser {lo.year}–{ref.year}</title>'
        f'<desc id="tl-desc">{escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>'
    )
    # year grid
    for yr in range(lo.year, hi.year + 1):
        gx = x(date(yr, 1, 1))
        parts.append(f'<line x1="{gx:.1f}" y1="22" x2="{gx:.1f}" y2="{height - 20}" stroke="#c8c8c8" stroke-width="1"/>')
        if yr < hi.year:
            parts.append(f'<text x="{gx + 4:.1f}" y="16" fill="#333">{yr}</text>')
    rx = x(ref)
    parts.append(f'<line x1="{rx:.1f}" y1="22" x2="{rx:.1f}" y2="{height - 20}" stroke="#b00020" stroke-width="2" '
                 f'stroke-dasharray="4 3"/><text x="{rx - 4:.1f}" y="{height - 6}" text-anchor="end" fill="#b00020">'
                 f'i dag ({ref.strftime("%d-%m-%Y")})</text>')
    for g, rows, top in lanes:
        colour = COLOURS.get(g.department, "#444")
        lane_h = len(rows) * ROW_H
        parts.append(f'<rect x="0" y="{top - 3}" width="{WIDTH}" height="{lane_h + 4}" fill="#f4f4f4" opacity="0.6"/>')
        parts.append(f'<text x="6" y="{top + 13}" fill="#111" font-weight="600">{escape(g.name)}</text>')
        if g.own:
            parts.append(f'<text x="6" y="{top + 27}" fill="#444" font-size="11">(din afdeling)</text>')
        for r, row in enumerate(rows):
            by = top + r * ROW_H
            for s, e, it in row:
                x1, x2 = x(s), x(e)
                w = max(x2 - x1, 4)
                open_end = it.end is None
                n_bars += 1
                tip = (f'{it.title} ({it.paragraph}), {it.start or "?"} – {it.end or "løbende"}, '
                       f'{it.status}; grundlag: {it.basis_text}')
                fade = "" if it.status == "aktiv" else ' fill-opacity="0.55"'
                parts.append(
                    f'<g class="bar"><title>{escape(tip)}</title>'
                    f'<rect x="{x1:.1f}" y="{by}" width="{w:.1f}" height="{BAR_H}" rx="3" fill="{colour}"{fade}/>'
                )
                if open_end:
                    parts.append(f'<path d="M{x1 + w:.1f} {by} l7 {BAR_H / 2} l-7 {BAR_H / 2} z" fill="{colour}"/>')
                label = it.title
                max_chars = int(w / 6.6)
                if max_chars >= 6:
                    if len(label) > max_chars:
                        label = label[: max_chars - 1] + "…"
                    parts.append(f'<text x="{x1 + 4:.1f}" y="{by + 12}" fill="#fff" font-size="11">{escape(label)}</text>')
                parts.append("</g>")
    parts.append(f'<text x="6" y="{sig_y + 13}" fill="#111" font-weight="600">Signaler</text>')
    for sg in signals:
        d = _d(sg.signal_date)
        if not d or d < lo:
            continue
        sx = x(d)
        cy = sig_y + 8
        parts.append(
            f'<g class="signal"><title>{escape(sg.title + ": " + (sg.detail or ""))}</title>'
            f'<path d="M{sx:.1f} {cy - 8} l8 8 l-8 8 l-8 -8 z" fill="#b00020" stroke="#fff"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
