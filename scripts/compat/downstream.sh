#!/usr/bin/env bash
# Uses tch-lr the way the guide's "Use it from your own crate" says
# (docs/guide/getting-started.md, linked from the README): makes a new crate
# (target/downstream/my-trainer) whose Cargo.toml has the guide's [dependencies]
# lines (tch-lr taken by path, default features off), whose build.rs is the guide's
# build.rs and whose src/main.rs is the guide's first Rust example (the README's
# example), all extracted from the page; then builds it and runs it without
# LD_LIBRARY_PATH. Fails if any step fails, so the instructions cannot drift from
# what works.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
doc=docs/guide/getting-started.md
if [ -z "${LIBTORCH:-}" ] && [ -z "${LIBTORCH_USE_PYTORCH:-}" ] && [ -d .venv ]; then
    # shellcheck source=scripts/env.sh
    . scripts/env.sh
fi

out="$root/target/downstream"
crate="$out/my-trainer"
rm -rf "$crate"
mkdir -p "$crate/src"

# The body of the N-th (from 1) fenced block whose opening line matches PATTERN.
block() {
    awk -v pat="$1" -v want="$2" '
        inside && /^```/ { inside = 0; if (n == want) exit; next }
        inside { if (n == want) print; next }
        /^```/ && $0 ~ pat { n++; inside = 1 }
    ' "$doc"
}

# The guide's [dependencies] block, with tch-lr taken from this checkout.
deps="$(block '^```toml' 1)"
grep -q '^tch-lr = { version = "[^"]*", default-features = false' <<<"$deps" \
    || { echo "downstream: $doc's toml block has no 'tch-lr = { version = ..., default-features = false }' line" >&2; exit 1; }
{
    printf '[package]\nname = "my-trainer"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
    sed "s|^tch-lr = { version = \"[^\"]*\"|tch-lr = { path = \"$root\"|" <<<"$deps"
    # Not part of this checkout's workspace (there is none, but be explicit).
    printf '\n[workspace]\n'
    # This checkout's profile for dependencies (its Cargo.toml): the builds below are reused.
    printf '\n[profile.dev.package."*"]\ndebug = false\n'
} >"$crate/Cargo.toml"

# The guide's build.rs: the Rust block that starts with "// build.rs".
n=0
found=""
while :; do
    n=$((n + 1))
    body="$(block '^```rust' "$n")"
    [ -n "$body" ] || break
    if head -n1 <<<"$body" | grep -q '^// build.rs'; then
        found="$body"
        break
    fi
done
[ -n "$found" ] || { echo "downstream: no Rust block starting with '// build.rs' in $doc" >&2; exit 1; }
printf '%s\n' "$found" >"$crate/build.rs"

# The guide's first Rust example (the README's), as the program.
block '^```rust' 1 >"$crate/src/main.rs"
grep -q '^fn main' "$crate/src/main.rs" \
    || { echo "downstream: $doc's first Rust example has no fn main" >&2; exit 1; }

# This project's versions of every dependency, so that nothing is resolved anew,
# and this project's target/: the dependencies the library alone was built with
# (`cargo build --lib --no-default-features`, which the test command runs just
# before) are reused, torch-sys's C++ included; only tch-lr and the crate compile.
cp Cargo.lock "$crate/Cargo.lock"
export CARGO_TARGET_DIR="$root/target"
offline=()
# Offline when every crate it needs is already downloaded (as after this project's build).
if cargo tree --offline -e normal --manifest-path "$crate/Cargo.toml" >/dev/null 2>&1; then
    offline=(--offline)
fi
echo "downstream: building $crate (tch-lr with default features off${offline:+, offline})"
cargo build --quiet "${offline[@]}" --manifest-path "$crate/Cargo.toml"

# tch-lr's own dependencies in that build: none of the command line's or the plots'.
if cargo tree "${offline[@]}" -e normal --manifest-path "$crate/Cargo.toml" --prefix none \
    | grep -E '^(clap|plotters|indicatif|anyhow) '; then
    echo "downstream: the crates above came in with default-features = false" >&2
    exit 1
fi

echo "downstream: running it (no LD_LIBRARY_PATH: libtorch is found through the rpath)"
(cd "$crate" && env -u LD_LIBRARY_PATH "$CARGO_TARGET_DIR/debug/my-trainer")
echo "downstream: ok"
