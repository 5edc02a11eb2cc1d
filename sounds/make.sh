#!/usr/bin/env bash
# Regenerates ccqueue's own prompts (the ones Asterisk's core sounds lack):
# espeak-ng speaks the text, sox converts it to 8 kHz mono 16-bit WAV.
# Run from anywhere: sounds/make.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${need[@]}" \
        || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
fi

mkdir -p en
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say <file> <text>: English female voice, a little slower than the default
say() {
    espeak-ng -v en-us+f3 -s 150 -w "$tmp/raw.wav" "$2"
    sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 "en/$1.wav" norm -3 fade 0.02 -0 0.05 pad 0.1 0.3
}

say welcome "Thank you for calling. Please hold; the next available agent will take your call."
say unavailable "We are sorry, our service is temporarily unavailable. Please call again later."

# What a softphone agent "says" into a call: 1.5 s of a quiet 440 Hz tone.
sox -D -n -r 8000 -c 1 -b 16 en/agent-silence.wav synth 1.5 sine 440 vol 0.1 fade 0.05 -0 0.05

for f in en/*.wav; do
    printf '%-24s %s s\n' "$f" "$(soxi -D "$f")"
done
