#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# completion_test.sh KABAR
#
# Generate the bash, zsh and fish completion scripts with `kabar completion`
# and ask each shell what it completes on a few command lines: the groups,
# a group's commands, a command's options, and nothing but file names after
# an option that takes a value. bash and zsh run the script's function with
# the variables their completion systems set (zsh's compsys functions are
# replaced by ones that print what they were given); fish answers
# `complete -C` itself. A shell that is not installed is skipped, loudly.
set -u

kabar=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/kabar-completion-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fails=0

expect() {   # expect WHAT GOT WORD...: each WORD is in GOT
    what=$1 got=$2
    shift 2
    for w in "$@"; do
        case " $got " in
        *" $w "*) ;;
        *) echo "FAIL $what: '$w' not offered; got: $got"; fails=$((fails + 1)) ;;
        esac
    done
}

reject() {   # reject WHAT GOT WORD...: no WORD is in GOT
    what=$1 got=$2
    shift 2
    for w in "$@"; do
        case " $got " in
        *" $w "*) echo "FAIL $what: '$w' offered; got: $got"; fails=$((fails + 1)) ;;
        esac
    done
}

for sh in bash zsh fish; do
    "$kabar" completion $sh >"$dir/kabar.$sh" || { echo "FAIL kabar completion $sh"; exit 1; }
done
"$kabar" completion tcsh >/dev/null 2>&1 && { echo "FAIL: an unknown shell was accepted"; exit 1; }

# bash: COMP_WORDS/COMP_CWORD as bash sets them; prints COMPREPLY.
bash_complete() {
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kabar
             echo "${COMPREPLY[*]}"' sh "$dir/kabar.bash" "$@"
}
expect "bash: groups" "$(bash_complete kabar '')" webhooks events deliveries keys verify listen completion
expect "bash: webhooks" "$(bash_complete kabar webhooks '')" create get list update delete rotate-secret ping
expect "bash: webhooks create" "$(bash_complete kabar --server http://x webhooks create --)" \
    --uri --events --name --disabled --server --api-key --json
reject "bash: webhooks create" "$(bash_complete kabar webhooks create --)" --webhook --secret
expect "bash: after a value" "$(bash_complete kabar webhooks create --uri https://x --)" --events
test -z "$(bash_complete kabar webhooks create --uri '')" ||
    { echo "FAIL bash: words offered for the value of --uri"; fails=$((fails + 1)); }

# zsh: words/CURRENT as compsys sets them; _describe, compadd and _files print.
if command -v zsh >/dev/null 2>&1; then
    zsh_complete() {
        zsh -fc 'compadd() { shift; print -r -- "$@" }
                 _describe() { local a=${@[-1]}; print -r -- ${${(P)a}%%:*} }
                 _files() { print -r -- FILES }
                 f=$1; shift; words=("$@"); CURRENT=$#; source $f' zsh "$dir/kabar.zsh" "$@"
    }
    expect "zsh: groups" "$(zsh_complete kabar '')" webhooks events deliveries verify completion
    expect "zsh: deliveries" "$(zsh_complete kabar deliveries '')" list get retry
    expect "zsh: verify" "$(zsh_complete kabar verify --)" --secret --jwks --id --json
    expect "zsh: a value" "$(zsh_complete kabar events publish --data-file '')" FILES
else
    echo "SKIP zsh: not installed"
fi

if command -v fish >/dev/null 2>&1; then
    fish_complete() {
        fish --no-config -c "source $dir/kabar.fish; complete -C '$1'" | cut -f1 | tr '\n' ' '
    }
    expect "fish: groups" "$(fish_complete 'kabar ')" webhooks events deliveries keys listen
    expect "fish: webhooks" "$(fish_complete 'kabar webhooks ')" create list rotate-secret recover
    expect "fish: listen" "$(fish_complete 'kabar listen --')" --port --secret --forward-to --server
    reject "fish: listen" "$(fish_complete 'kabar listen --')" --uri
else
    echo "SKIP fish: not installed"
fi

[ "$fails" -eq 0 ] || exit 1
echo "completion: bash, zsh, fish ok"
