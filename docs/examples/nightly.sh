#!/bin/sh
# nightly.sh [DAY]: append the invoices created on DAY (default: yesterday, UTC) to
# invoices.jsonl. Needs ACCOUNT_ID and CLOUDFLARE_API_TOKEN in the environment.
set -eu
day=${1:-$(date -u -d yesterday +%F)}       # GNU date; on macOS: date -u -v-1d +%F
next=$(date -u -d "$day + 1 day" +%F)
asyncinvoices fetch "$ACCOUNT_ID" --since "$day" --until "$next" -q -o "invoices-$day.jsonl"
cat "invoices-$day.jsonl" >> invoices.jsonl
rm "invoices-$day.jsonl"
