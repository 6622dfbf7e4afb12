#!/usr/bin/env bash
# Fetch the real recordings used by bench_nnls.py into benchmarks/audio/ (ignored by git):
# recorded speech from Debian's alsa-utils and non-speech sounds from sound-theme-freedesktop.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p audio/.debs
cd audio/.debs
apt-get download alsa-utils sound-theme-freedesktop
for deb in *.deb; do dpkg -x "$deb" ../extracted; done
cd ..
cp extracted/usr/share/sounds/alsa/*.wav .
cp extracted/usr/share/sounds/freedesktop/stereo/{alarm-clock-elapsed,camera-shutter,phone-incoming-call,complete,service-login}.oga .
ls
