"""Make the TUI screenshots in docs/: ``.venv/bin/python docs/make_screenshots.py [OUT_DIR]``.

The app runs headless (Textual's pilot) on the tiny profile with scripted planner replies, and each screen's
cells are drawn into a PNG with PIL and DejaVu Sans Mono (half-block pixels as exact rectangles), so the
pictures need no browser and no SVG renderer. Writes tui.png (160×48, after an edit), tui-clarify.png (a
question) and tui-small.png (80×24).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"


def screen_png(app, path: Path, size: int = 15) -> None:
    """Draw ``app``'s current screen, cell by cell, into the PNG ``path``."""
    from PIL import Image, ImageDraw, ImageFont
    from rich.console import Console
    from rich.segment import ControlType

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    font, bold = ImageFont.truetype(FONT, size), ImageFont.truetype(BOLD, size)
    cw, ch = round(font.getlength("M")), round(size * 1.3)
    image = Image.new("RGB", (width * cw, height * ch), (12, 12, 12))
    draw = ImageDraw.Draw(image)
    x = y = 0
    for segment in console._record_buffer:
        if segment.control:                     # Textual places each line with a cursor move
            for code, *params in segment.control:
                if code == ControlType.CURSOR_MOVE_TO:
                    x, y = params
            continue
        style = segment.style
        fg = style.color.get_truecolor(foreground=True) if style and style.color else (224, 224, 224)
        bg = style.bgcolor.get_truecolor(foreground=False) if style and style.bgcolor else (12, 12, 12)
        if style and style.reverse:
            fg, bg = bg, fg
        if style and style.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        for char in segment.text:
            if char == "\n":
                x, y = 0, y + 1
                continue
            box = (x * cw, y * ch, (x + 1) * cw - 1, (y + 1) * ch - 1)
            draw.rectangle(box, fill=tuple(bg))
            if char in "▀▄":
                top, bottom = (fg, bg) if char == "▀" else (bg, fg)
                draw.rectangle((box[0], box[1], box[2], box[1] + ch // 2 - 1), fill=tuple(top))
                draw.rectangle((box[0], box[1] + ch // 2, box[2], box[3]), fill=tuple(bottom))
            elif char == "█":
                draw.rectangle(box, fill=tuple(fg))
            elif char.strip():
                draw.text((box[0], box[1] + 1), char, fill=tuple(fg), font=bold if style and style.bold else font)
            x += 1
    image.save(path)


async def shoot(out: Path, name: str, size: tuple[int, int], steps: list[str], replies: list[str]) -> None:
    import tui
    from test_tui import planner, settle, type_line
    from tools.samples import sample_path

    with tempfile.TemporaryDirectory() as home:
        os.environ["HOME"] = home                                   # the status line shows ~/coffee
        app = tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=Path(home) / "coffee",
                              planner=planner(*replies), image_mode="halfcell")
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            app.prompt.cursor_blink = False
            for text in steps:
                await type_line(pilot, text)
                await settle(app, pilot)
            await pilot.pause(0.3)
            screen_png(app, out / name)
    print(out / name)


def main() -> None:
    from test_tui import plan, recolor_box

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    saucer = plan({"action": "recolor", "referent": {"phrase": "the saucer"}, "content": "blue"})
    asyncio.run(shoot(out, "tui.png", (160, 48), ["make the cup red", "make the saucer blue", "2"],
                      [recolor_box(), saucer]))
    asyncio.run(shoot(out, "tui-clarify.png", (160, 48), ["make the cup red", "make the saucer blue"],
                      [recolor_box(), saucer]))
    asyncio.run(shoot(out, "tui-small.png", (80, 24), ["make the cup red"], [recolor_box()]))


if __name__ == "__main__":
    main()
