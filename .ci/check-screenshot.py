"""A screenshot shows a rendered page: a PNG of the asked size that is not
blank. A blank or one-line error page of 1280x900 compresses to a few KB;
the guide's start page, text and sidebar, to over 30 KB. Standard library only."""
import struct
import sys

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
width, height = struct.unpack(">II", data[16:24])
print(f"{path}: {width}x{height}, {len(data)} bytes")
if width < 800 or height < 600 or len(data) < 15000:
    sys.exit(f"{path}: looks blank")
