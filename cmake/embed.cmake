# SPDX-License-Identifier: Apache-2.0
# Files of the source tree compiled into kabard as C arrays, so that it
# serves them with no files at run time. Two uses:
#
# As a script, one file as one symbol (the OpenAPI description):
#
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P cmake/embed.cmake
#
#   writes `const char NAME[]` holding IN's bytes and a NUL after them, and
#   `const size_t NAME_len`, their count (the NUL not counted).
#
# As a module, for generators that lay out several files their own way
# (cmake/embed_ui.cmake, the web UI's assets with their types and hash):
#
#   include(${CMAKE_CURRENT_LIST_DIR}/embed.cmake)
#   embed_bytes(<file> <bytes-var> <len-var>)
#       <bytes-var>: the initializer list of the file's bytes and a NUL,
#       sixteen to a line ("0x7b, ... 0x00"); <len-var>: the byte count.
#   embed_write(<out> <text>)
#       write text to out through a temporary file and a rename, so that a
#       build interrupted midway never leaves a half-written source.

function(embed_bytes file bytes_var len_var)
    file(READ "${file}" hex HEX)
    string(LENGTH "${hex}" hexlen)
    math(EXPR len "${hexlen} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    # CMake's regular expressions have no {16}: the pattern is spelled out.
    string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
    string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
    set(${bytes_var} "    ${bytes}0x00" PARENT_SCOPE)
    set(${len_var} ${len} PARENT_SCOPE)
endfunction()

function(embed_write out text)
    file(WRITE "${out}.tmp" "${text}")
    file(RENAME "${out}.tmp" "${out}")
endfunction()

if(DEFINED IN)
    foreach(var OUT NAME)
        if(NOT DEFINED ${var})
            message(FATAL_ERROR "embed.cmake: -D${var}= is missing (see the file's head)")
        endif()
    endforeach()
    embed_bytes("${IN}" bytes len)
    string(CONCAT text
        "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
        "#include <stddef.h>\n\n"
        "const char ${NAME}[] = {\n${bytes}\n};\n"
        "const size_t ${NAME}_len = ${len};\n")
    embed_write("${OUT}" "${text}")
endif()
