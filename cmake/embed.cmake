# SPDX-License-Identifier: Apache-2.0
# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
#
# Write a C file that holds IN's bytes as `const char NAME[]` (NUL-terminated)
# and their count as `const size_t NAME_len`, so a document kept as a plain
# file in the source tree (the OpenAPI description) is served from the binary.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
    "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
    "#include <stddef.h>\n"
    "const char ${NAME}[] = {\n${bytes}0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
