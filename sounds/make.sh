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

mkdir -p en ru
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say <file> <text>: English female voice, a little slower than the default
say() {
    espeak-ng -v en-us+f3 -s 150 -w "$tmp/raw.wav" "$2"
    sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 "en/$1.wav" norm -3 fade 0.02 -0 0.05 pad 0.1 0.3
}
# say_ru <file> <text>: the same in Russian (Asterisk plays it to callers whose
# language is ru)
say_ru() {
    espeak-ng -v ru+f3 -s 150 -w "$tmp/raw.wav" "$2"
    sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 "ru/$1.wav" norm -3 fade 0.02 -0 0.05 pad 0.1 0.3
}

say welcome "Thank you for calling. Please hold; the next available agent will take your call."
say unavailable "We are sorry, our service is temporarily unavailable. Please call again later."

# The sample IVR tree (config/ivr.yaml) and the post-call survey.
say ivr-welcome "Welcome to the c c queue demo line."
say ivr-main-menu "For support, press 1. To have your account number read back, press 2. To be called back, press 3. To leave a message, press 4. For another language, press 9."
say ivr-enter-account "Please enter your account number, then press the pound key."
say ivr-closed "We are closed now. Our hours are Monday to Friday, 8 AM to 8 PM, and Saturday, 10 AM to 2 PM."
say ivr-closed-menu "To leave a message, press 1. To be called back, press 2."
say ivr-language "For English, press 1. For Russian, press 2."
say leave-message "Please leave your message after the tone. Hang up when you are done."
say survey-rate "Please rate the call you just had, from 1 for poor to 5 for excellent."
say survey-recommend "How likely are you to recommend us to a friend, from 0 to 10? Press the pound key when done."
say survey-thanks "Thank you for your answers. Goodbye."

# Callbacks: the offer and its confirmation, and what the agent hears first.
say callback-offer "We can call you back when it is your turn; you keep your place in line. We would call you at"
say callback-confirm-keys "If this number is right, press 1. To enter another number, press 2."
say callback-enter "Please enter the number to call you back at, then press the pound key."
say callback-invalid "Sorry, we cannot call that number."
say callback-declined "Please stay on the line."
say callback-booked "Thank you. We will call you back when it is your turn. Goodbye."
say callback-for "This is a callback. Calling the customer at"
# Also what a caller turned away for load hears: short, so that refusing costs little.
say queue-full "All lines are busy. Please call later."
say_ru queue-full "Все линии заняты. Перезвоните позже."

# Outbound campaigns: the safe-harbour message a callee hears when no agent is free
# within 2 s of the answer (it names the caller and a number to call back), a sample
# voice-broadcast message with its keys, and a sample message left on machines.
say safe-harbour "Sorry we missed you. This call was from the c c queue demo company. Please call us back at 2 0 2, 5 5 5, 0 1 0 0. Goodbye."
say_ru safe-harbour "Извините, что не дождались ответа. Вам звонила демонстрационная компания си си кью. Перезвоните нам по номеру 2 0 2, 5 5 5, 0 1 0 0. До свидания."
say broadcast-sample "This is a reminder from the c c queue demo company: your order is ready. To speak to an operator, press 1. To receive no more calls from us, press 9."
say_ru broadcast-sample "Напоминание от демонстрационной компании си си кью: ваш заказ готов. Чтобы поговорить с оператором, нажмите 1. Чтобы мы больше не звонили, нажмите 9."
say machine-message "Hello, this is the c c queue demo company with a message about your order. Please call us back at 2 0 2, 5 5 5, 0 1 0 0. Thank you."
say_ru machine-message "Здравствуйте, это демонстрационная компания си си кью, сообщение о вашем заказе. Перезвоните нам по номеру 2 0 2, 5 5 5, 0 1 0 0. Спасибо."

# Queues whose calls may be recorded tell their callers first (queues.<q>.recording.notice).
say recording-notice "This call may be recorded."
say_ru recording-notice "Этот звонок может быть записан."

# The sandbox's stand-in public network (dialplan/standin-pstn.conf): what a person
# who answers says, and an answering machine's long greeting (a beep follows it).
say standin-hello "Hello?"
say standin-machine-greeting "Hi, you have reached the voicemail of Alex Morgan. I cannot take your call right now. Please leave your name, your number and a short message after the tone, and I will call you back as soon as I can. Thank you."

# What a softphone agent "says" into a call: 1.5 s of a quiet 440 Hz tone.
sox -D -n -r 8000 -c 1 -b 16 en/agent-silence.wav synth 1.5 sine 440 vol 0.1 fade 0.05 -0 0.05

for f in en/*.wav ru/*.wav; do
    printf '%-24s %s s\n' "$f" "$(soxi -D "$f")"
done
