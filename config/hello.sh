#!/bin/sh
# The Quick start's one-program example: `npx wsexec --port=8080 ./config/hello.sh`.
# Each connection runs it: it asks for a name, greets, and echoes what it is sent until stdin ends.
echo "name?"
read -r name || exit 0
echo "hello, $name"
while read -r line; do echo "you said: $line"; done
