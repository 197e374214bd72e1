#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# install_test.sh BUILD_DIR EXAMPLE_C CC [EXTRA_CFLAGS]
#
# Install the build into a scratch prefix (cmake --install), then compile
# the receiver example with nothing but what pkg-config says about kabar,
# once against the shared library and once with --static, and run both.
# This is what a user of `make install` meets.
set -eu

build=$1
example=$2
cc=$3
extra=${4:-}

prefix=$(mktemp -d "${TMPDIR:-/tmp}/kabar-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/kabar/kabar.h include/kabar/kabar_version.h bin/kabar bin/kabard; do
    test -e "$prefix/$f" || { echo "not installed: $f"; exit 1; }
done
pcdir=$(dirname "$(find "$prefix" -name kabar.pc | head -n 1)")
test -n "$pcdir" || { echo "kabar.pc not installed"; exit 1; }
libdir=$(dirname "$pcdir")
ls "$libdir"/libkabar.a "$libdir"/libkabar.so >/dev/null

# The .pc file names the configured prefix; point pkg-config at the scratch one.
export PKG_CONFIG_PATH="$pcdir"
pc="pkg-config --define-variable=prefix=$prefix"

# shellcheck disable=SC2046
$cc $extra -Wall -Wextra -Werror -o "$prefix/example-shared" "$example" \
    $($pc --cflags --libs kabar)
# shellcheck disable=SC2046
$cc $extra -Wall -Wextra -Werror -o "$prefix/example-static" "$example" \
    $($pc --cflags kabar) "$($pc --variable=libdir kabar)/libkabar.a" \
    $(pkg-config --libs libcrypto jansson libcurl) -pthread -lm
# What kabar.pc says a static link needs includes those three.
$pc --print-requires-private kabar | grep -q libcurl

# A request that must be refused (the vector of product.md §8 is years old).
req=$(printf 'POST /hook HTTP/1.1\r\nwebhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\r\nwebhook-timestamp: 1614265330\r\nwebhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\r\n\r\n{"test": 2432232314}')
for bin in example-shared example-static; do
    out=$(printf '%s' "$req" | LD_LIBRARY_PATH="$libdir" "$prefix/$bin" \
        whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw 2>&1) && { echo "$bin accepted an old message"; exit 1; }
    echo "$out" | grep -q "too old" || { echo "$bin: unexpected output: $out"; exit 1; }
done
echo "install + pkg-config: ok"
