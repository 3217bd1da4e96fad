#!/usr/bin/env python3
"""Embeds a file as a C byte array: embed.py INPUT OUTPUT SYMBOL."""
import sys

src, out, sym = sys.argv[1:4]
data = open(src, 'rb').read()
with open(out, 'w') as f:
    f.write('#include <stddef.h>\n')
    f.write('const char %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        f.write(''.join('%d,' % b for b in data[i:i + 16]) + '\n')
    f.write('0};\nconst size_t %s_len = %d;\n' % (sym, len(data)))
