#!/usr/bin/env python3
"""Embeds a file as a C byte array: embed.py INPUT OUTPUT SYMBOL.

An HTML input has its stylesheet links and script sources that name files
beside it (<link rel="stylesheet" href="F">, <script src="F"></script>)
put inline, so that what is served is one document, as the files read on
disk are three; no other build step."""
import os
import re
import sys

src, out, sym = sys.argv[1:4]
data = open(src, 'rb').read()
if src.endswith('.html'):
    here = os.path.dirname(src)
    def inline(tag, path):
        body = open(os.path.join(here, path), 'rb').read()
        return b'<' + tag + b'>\n' + body + b'</' + tag + b'>'
    data = re.sub(rb'<link rel="stylesheet" href="([\w.-]+)">', lambda m: inline(b'style', m.group(1).decode()), data)
    data = re.sub(rb'<script src="([\w.-]+)"></script>', lambda m: inline(b'script', m.group(1).decode()), data)
with open(out, 'w') as f:
    f.write('#include <stddef.h>\n')
    f.write('const char %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        f.write(''.join('%d,' % b for b in data[i:i + 16]) + '\n')
    f.write('0};\nconst size_t %s_len = %d;\n' % (sym, len(data)))
