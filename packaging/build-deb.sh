#!/usr/bin/env bash
# Builds census-agent, census-collector and census-cli .deb packages from already-built binaries, with dpkg-deb
# alone (no cargo-deb to download or compile).
#
#   cargo build --release -p census-agent -p census-collector -p census-cli -p census-tests
#   packaging/build-deb.sh [--profile release|dev] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=target/debian
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: packaging/build-deb.sh [--profile release|dev] [--out DIR]" >&2; exit 2 ;;
  esac
done
# Release packages get xz like Debian's own; CI's throwaway dev packages only need to be fast to build.
case "$profile" in
  release) bindir=target/release; compression=(-Zxz) ;;
  dev) bindir=target/debug; compression=(-Zgzip -z1) ;;
  *) echo "--profile is release or dev, not '$profile'" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# Manual pages, rendered from the programs' own clap definitions (census-tests' census-manpages binary).
man=$(mktemp -d)
trap 'rm -rf "$man"' EXIT
[ -x "$bindir/census-manpages" ] || { echo "$bindir/census-manpages is missing: cargo build --workspace --bins" >&2; exit 1; }
"$bindir/census-manpages" "$man" >/dev/null
arch=$(dpkg --print-architecture)
mkdir -p "$out"

# package NAME DESCRIPTION DEPENDS CONFIG [BINARY]: CONFIG "-" for a package without configuration file,
# systemd unit or maintainer scripts (the CLI); BINARY defaults to NAME.
package() {
  local name="$1" description="$2" depends="$3" config="$4" program="${5:-$1}"
  local binary="$bindir/$program"
  [ -x "$binary" ] || { echo "$binary is missing: build it first (cargo build --$profile -p $name)" >&2; exit 1; }
  local stage; stage=$(mktemp -d)
  chmod 0755 "$stage"
  install -D -m 0755 "$binary" "$stage/usr/bin/$program"
  if [ "$config" != - ]; then
    install -D -m 0644 "config/$config" "$stage/etc/$name/$config"
    install -D -m 0644 "packaging/$name.service" "$stage/lib/systemd/system/$name.service"
    install -D -m 0644 docs/deployment.md "$stage/usr/share/doc/$name/README.Debian"
  fi
  install -D -m 0644 packaging/copyright "$stage/usr/share/doc/$name/copyright"
  mkdir -p "$stage/usr/share/man/man1"
  for page in "$man/$program".1 "$man/$program"-*.1; do
    # census-*.1 would also catch census-agent-*.1 and census-collector-*.1: each page goes with its program.
    case "$program:$(basename "$page")" in
      census:census-agent*|census:census-collector*) continue ;;
    esac
    [ -e "$page" ] && gzip -9n -c "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"
  done
  if [ "$program" = census ]; then
    # Shell completions, from the CLI itself, where each shell looks for packaged ones.
    install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
      "$stage/usr/share/fish/vendor_completions.d"
    "$binary" completions bash > "$stage/usr/share/bash-completion/completions/census"
    "$binary" completions zsh > "$stage/usr/share/zsh/vendor-completions/_census"
    "$binary" completions fish > "$stage/usr/share/fish/vendor_completions.d/census.fish"
  fi
  printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Census developers <census@example.invalid>  %s\n' \
    "$name" "$version" "$version" "$(date -R -u -d @0)" | gzip -9n > "$stage/usr/share/doc/$name/changelog.Debian.gz"
  mkdir -p "$stage/DEBIAN"
  if [ "$config" != - ]; then
    install -m 0755 "packaging/debian/$name/postinst" "packaging/debian/$name/prerm" "packaging/debian/$name/postrm" "$stage/DEBIAN/"
    echo "/etc/$name/$config" > "$stage/DEBIAN/conffiles"
  fi
  local size; size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  cat > "$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Census developers <census@example.invalid>
Installed-Size: $size
Depends: $depends
Section: admin
Priority: optional
Homepage: https://example.invalid/census
Description: $description
CONTROL
  dpkg-deb --build --root-owner-group "${compression[@]}" "$stage" "$out/${name}_${version}_${arch}.deb" >/dev/null
  rm -rf "$stage"
  echo "$out/${name}_${version}_${arch}.deb"
}

package census-agent "Census inventory agent
 Inventories this machine's hardware and software (SMBIOS identity, CPU, memory, disks, network,
 OS, packages, users, services, listening ports) and reports it over mutual TLS to a Census
 collector, spooling reports while the collector is unreachable." "libc6" agent.toml
package census-collector "Census collector and CMDB
 Receives inventories from Census agents over mutual TLS, reconciles them into one configuration
 item per machine, keeps the history of every change and links CIs to incidents and changes." \
  "libc6, adduser, passwd" collector.toml
package census-cli "Census command-line client
 The census command: asset search and history, incidents, changes and impact from a Census
 collector's API, as tables, JSON or CSV, with man pages and bash, zsh and fish completions." \
  "libc6" - census
