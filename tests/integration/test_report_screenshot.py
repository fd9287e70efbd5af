"""The HTML run report renders in a real browser (headless Chromium): a non-trivial screenshot.

Needs the Debian package ``chromium``; skipped with a clear reason when it is absent.
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import report as rp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                                         "(Debian package: chromium)")


def decode_png(data):
    """Minimal PNG decoder (8-bit RGB/RGBA, non-interlaced) -> (width, height, channels, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"IDAT":
            idat += chunk
        elif ctype == b"IEND":
            break
    width, height, depth, color, _c, _f, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, i = [], bytearray(stride), 0
    for _y in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def test_html_report_screenshot(tmp_path):
    unit = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit")
    if unit not in sys.path:
        sys.path.insert(0, unit)
    from test_metrics import simulate_fleet
    fleet = simulate_fleet()
    report = rp.build_report(fleet["model"], fleet["plan_report"], fleet["ledgers"], fleet["health"],
                             fleet["history"], fleet["today"])
    page = tmp_path / "report.html"
    page.write_text(rp.render_html(report))
    png = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           "--user-data-dir=%s" % (tmp_path / "profile"), "--screenshot=%s" % png, "--window-size=1280,2000",
           "file://%s" % page]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                         timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert res.returncode == 0 and png.exists(), res.stdout
    data = png.read_bytes()
    assert len(data) > 20000, len(data)
    width, height, channels, rows = decode_png(data)
    assert (width, height) == (1280, 2000)
    colours = set()
    non_white_rows = 0
    for row in rows[::4]:
        px = {row[x:x + 3] for x in range(0, len(row), channels * 4)}
        colours |= px
        if px - {b"\xff\xff\xff"}:
            non_white_rows += 1
    assert len(colours) > 50  # text, tables, chart bars and lines, badges
    assert non_white_rows > len(rows[::4]) // 2
    # the chart colours are drawn: cap line (#bc4c00) and sent bars (#54aeff)
    def near(rgb, target, tol=24):
        return all(abs(a - b) <= tol for a, b in zip(rgb, target))
    assert any(near(c, (0xbc, 0x4c, 0x00)) for c in colours)
    assert any(near(c, (0x54, 0xae, 0xff)) for c in colours)
