"""The report's HTML: one static page, readable offline, without JavaScript.

The page holds the summary as a definition list, what is missing as a list, and one
``<figure>`` per figure: the PNG beside the page (relative link, so the folder can be moved or
zipped), its alt text, a caption, and links to the vector versions for papers. The style is
inline CSS sized for a laptop screen; nothing is fetched from the network.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1c2833; background: #fdfefe; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 1.2em 1.6em 3em; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #d5d8dc; }
.meta { color: #566573; margin-top: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25em 1.2em; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; }
.missing { background: #fef9e7; border-left: 4px solid #f1c40f; padding: 0.4em 1em; }
figure { margin: 1em 0 2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e5e8e8; }
figcaption { color: #34495e; margin-top: 0.4em; max-width: 60em; }
code { font-size: 0.92em; }
"""


@dataclass(frozen=True)
class PageFigure:
    """One figure of the page.

    Attributes:
        name: file stem; the page shows ``<name>.png`` and links ``<name>.<format>``.
        title: the section heading.
        caption: what the figure shows and how to read it (plain text).
        alt: the image's alternative text: what it shows, with its main numbers.
        width, height: size of the PNG in pixels (so the page lays out before it loads).
        vector_formats: the other formats written beside the PNG (e.g. ``("pdf",)``).
    """

    name: str
    title: str
    caption: str
    alt: str
    width: int
    height: int
    vector_formats: tuple[str, ...] = ("pdf",)


def _figure(entry: PageFigure) -> str:
    e = html.escape
    links = " ".join(f'<a href="{e(entry.name)}.{fmt}">{fmt.upper()}</a>' for fmt in entry.vector_formats)
    return (f'<section id="{e(entry.name)}">\n<h2>{e(entry.title)}</h2>\n<figure>\n'
            f'<img src="{e(entry.name)}.png" alt="{e(entry.alt)}" width="{entry.width}" height="{entry.height}">\n'
            f'<figcaption>{e(entry.caption)} {links}</figcaption>\n</figure>\n</section>')


def render_page(title: str, subtitle: str, facts: list[tuple[str, str]], missing: list[str],
                figures: list[PageFigure]) -> str:
    """The whole page as a string (UTF-8 HTML5); every text is escaped.

    Args:
        title, subtitle: the heading and the line under it.
        facts: (term, description) pairs of the summary.
        missing: sentences saying what the report could not show and why.
        figures: in page order.
    """
    e = html.escape
    summary = "\n".join(f"<dt>{e(term)}</dt><dd>{e(text)}</dd>" for term, text in facts)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>",
        "<body>\n<main>",
        f"<h1>{e(title)}</h1>\n<p class=\"meta\">{e(subtitle)}</p>",
        f'<section id="summary">\n<h2>Summary</h2>\n<dl>\n{summary}\n</dl>\n</section>',
    ]
    if missing:
        items = "\n".join(f"<li>{e(text)}</li>" for text in missing)
        parts.append(f'<section id="missing" class="missing">\n<h2>Notes: what is missing or needs care</h2>\n<ul>\n{items}\n</ul>\n</section>')
    parts += [_figure(entry) for entry in figures]
    parts.append("</main>\n</body>\n</html>\n")
    return "\n".join(parts)
