#!/bin/sh
# Activation: vsm runs this on the server (working directory: the server's root) after the
# files are switched in. A non-zero exit fails the apply for this server; the next apply
# runs it again.
set -eu
for f in app/index.html app/server.html; do
    if [ ! -s "$f" ]; then
        echo "activate: $f is missing or empty" >&2
        exit 1
    fi
done
echo "activated: $(grep -c . app/server.html) lines in app/server.html"
