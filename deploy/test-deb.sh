#!/usr/bin/env bash
# Builds the stoop .deb and checks it the way a neighbor's home server uses
# it: install, `stoopd init --system`, the node running as the `stoop` user,
# the CLI for a member of the `stoop` group and a clear refusal for anyone
# else, then remove and purge. Needs root and dpkg (CI runs it on Debian);
# does not need a running systemd: the node is started with runuser.
#
#   sudo deploy/test-deb.sh
#
# Environment: CARGO_TARGET_DIR is honored; CARGO_DEB_VERSION is the pinned
# cargo-deb (.ci/run installs it). Prints `N passed, N failed` last.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
    echo "test-deb: skipped (needs root and dpkg)"
    exit 0
fi

PKG=stoop
HOOD_NAME="Test Hood"
MEMBER=stoop-t-member
OUTSIDER=stoop-t-outsider
TMP=$(mktemp -d /tmp/stoop-deb.XXXXXX)
chmod 0755 "$TMP"
NODE_PID=
PASSED=0
FAILED=0

# fatal WHY: later checks would only repeat this failure.
fatal() { fail "$*: stopping here"; echo "$PASSED passed, $FAILED failed"; exit 1; }
pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >"$TMP/check.out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/     /' "$TMP/check.out" | head -20; fi
}
# stat_is PATH "MODE OWNER GROUP"
stat_is() { [ "$(stat -c '%a %U %G' "$1")" = "$2" ] || { echo "$1: $(stat -c '%a %U %G' "$1"), want $2"; return 1; }; }
# fails_with PATTERN COMMAND...: the command fails and says PATTERN.
fails_with() {
    local pattern=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then echo "succeeded: $*"; cat "$TMP/out"; return 1; fi
    grep -q -- "$pattern" "$TMP/out" || { echo "no '$pattern' in:"; cat "$TMP/out"; return 1; }
}
# wait_for SECONDS COMMAND...: bounded wait.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}
as() { # as USER COMMAND...: a clean login-like environment.
    local user=$1
    shift
    runuser -u "$user" -- env -u STATE_DIRECTORY -u STOOP_DATA_DIR "$@"
}

stop_node() {
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill -TERM "$NODE_PID" 2>/dev/null
        wait_for 30 bash -c "! kill -0 $NODE_PID" || kill -KILL "$NODE_PID" 2>/dev/null
    fi
    NODE_PID=
}

cleanup() {
    stop_node
    if dpkg -s "$PKG" >/dev/null 2>&1 || [ -d /var/lib/stoop ]; then
        dpkg --purge "$PKG" >/dev/null 2>&1 || true
    fi
    for u in "$MEMBER" "$OUTSIDER"; do
        if getent passwd "$u" >/dev/null; then userdel "$u" >/dev/null 2>&1 || true; fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
# So that an interrupted run still cleans up (through the EXIT trap).
trap 'exit 130' INT TERM

# This test installs and purges its own package and account: never on a
# machine that has a real one.
if dpkg -s "$PKG" >/dev/null 2>&1 || getent passwd stoop >/dev/null || [ -e /var/lib/stoop ]; then
    trap - EXIT
    rm -rf "$TMP"
    echo "test-deb: a stoop package, user or /var/lib/stoop is already here; refusing to touch it"
    echo "0 passed, 1 failed"
    exit 1
fi

CARGO_DEB_VERSION=${CARGO_DEB_VERSION:-3.8.0}
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "test-deb: needs cargo-deb $CARGO_DEB_VERSION: cargo install cargo-deb --locked --version $CARGO_DEB_VERSION"
    echo "0 passed, 1 failed"
    exit 1
fi

echo "== build (debug profile: the package's contents are what is tested, not its speed)"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --locked -p stoop-node --bin stoopd -p stoop-cli --bin stoop || { echo "0 passed, 1 failed"; exit 1; }
# --no-build: the CLI comes from another crate, built just above. cargo-deb
# warns that the dev profile is meant for releases only; CI saves a release
# build this way.
cargo deb --locked -p stoop-node --profile dev --no-build --strip --fast --output "$TMP/" 2>&1 | grep -v -e "^warning: dev profile" -e "To enable debug symbols set" \
    || true
DEB=$(ls "$TMP"/stoop_*.deb 2>/dev/null | head -n1)
check "a .deb was built" test -n "$DEB"
[ -n "$DEB" ] || fatal "no .deb"

echo "== before install"
check "init --system refuses without the stoop user" \
    fails_with "no \`stoop\` user" "$TARGET_DIR/debug/stoopd" init --system --hood-name x --area dr5ru
check "... and wrote nothing" test ! -e /var/lib/stoop

echo "== install"
check "dpkg -i (no systemd running)" dpkg -i "$DEB"
dpkg -s "$PKG" 2>/dev/null | grep -q "^Status: install ok installed" || fatal "the package did not install"
check "package metadata" bash -c "dpkg-deb -f '$DEB' Package Depends | grep -q 'Package: stoop' && dpkg-deb -f '$DEB' Depends | grep -q adduser"
check "stoopd binary" stat_is /usr/bin/stoopd "755 root root"
check "stoop binary" stat_is /usr/bin/stoop "755 root root"
# cargo-deb installs to /usr/lib/systemd/system, which is /lib/systemd/system
# on every merged-/usr system (all supported Debian, Ubuntu, Raspberry Pi OS).
check "unit" stat_is /lib/systemd/system/stoopd.service "644 root root"
UNIT=/lib/systemd/system/stoopd.service
check "unit runs the packaged binary as the static stoop user" bash -c \
    "grep -qx 'ExecStart=/usr/bin/stoopd run' $UNIT && grep -qx 'User=stoop' $UNIT && grep -qx 'Group=stoop' $UNIT && ! grep -q '^DynamicUser' $UNIT"
check "unit limits sit above the node's guards" bash -c \
    "grep -qx 'MemoryMax=768M' $UNIT && grep -qx 'LimitNOFILE=1024' $UNIT && grep -qx 'StateDirectoryMode=0750' $UNIT && grep -qx 'UMask=0027' $UNIT && grep -qx 'ProtectSystem=strict' $UNIT"
check "config" stat_is /etc/stoop/stoop.toml "644 root root"
check "config is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' $PKG | grep -q /etc/stoop/stoop.toml"
check "stoop system user, no login" bash -c \
    'IFS=: read -r _ _ uid gid _ home shell < <(getent passwd stoop) && [ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] && [ "$(getent group stoop | cut -d: -f3)" = "$gid" ]'
check "state directory" stat_is /var/lib/stoop "750 stoop stoop"
check "postinst is idempotent (reinstall)" dpkg -i "$DEB"
dpkg -s "$PKG" 2>/dev/null | grep -q "^Status: install ok installed" || fatal "the package did not reinstall"

if command -v systemd-analyze >/dev/null; then
    # Only this unit's own diagnostics count: the container may lack
    # targets and units systemd-analyze would otherwise complain about.
    systemd-analyze verify /lib/systemd/system/stoopd.service >"$TMP/verify" 2>&1
    check "systemd-analyze verify stoopd.service" bash -c "! grep -i 'stoopd' '$TMP/verify'"
    # Positive control: it exits 0 even on a bad key, so the check above
    # relies on it naming the file; a broken copy must be named.
    mkdir "$TMP/units"
    sed 's/^MemoryMax=.*/MemoryMax=lots/' /lib/systemd/system/stoopd.service >"$TMP/units/stoopd.service"
    check "systemd-analyze flags a broken copy of the unit" bash -c \
        "systemd-analyze verify '$TMP/units/stoopd.service' 2>&1 | grep -q 'stoopd.service.*MemoryMax\|Invalid memory limit'"
else
    echo "skip systemd-analyze (not installed)"
fi

echo "== stoopd init --system"
useradd --no-create-home --shell /usr/sbin/nologin --groups stoop "$MEMBER" || fatal "useradd $MEMBER"
useradd --no-create-home --shell /usr/sbin/nologin "$OUTSIDER" || fatal "useradd $OUTSIDER"
check "refused for a non-root user" fails_with "needs root" \
    as "$MEMBER" stoopd init --system --hood-name "$HOOD_NAME" --area dr5ru
stoopd init --system --hood-name "$HOOD_NAME" --area dr5ru \
    --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 >"$TMP/init.out" 2>&1
check "init --system succeeds and says how to start" grep -q "systemctl start stoopd" "$TMP/init.out"
HOOD=$(sed -n 's/^hood //p' "$TMP/init.out")
check "state directory still 0750 stoop:stoop" stat_is /var/lib/stoop "750 stoop stoop"
check "author key 0600 stoop" stat_is /var/lib/stoop/author.key "600 stoop stoop"
check "node key 0600 stoop" stat_is /var/lib/stoop/node.key "600 stoop stoop"
check "every file belongs to stoop" bash -c '[ -z "$(find /var/lib/stoop ! -user stoop -o ! -group stoop | head -n1)" ]'
check "the node's config is /etc/stoop/stoop.toml" bash -c \
    '[ "$(readlink /var/lib/stoop/stoop.toml)" = /etc/stoop/stoop.toml ] && grep -q "127.0.0.1:0" /etc/stoop/stoop.toml'
check "/etc stays root's" stat_is /etc/stoop/stoop.toml "644 root root"
check "a second init --system is refused" fails_with "already holds a node" \
    stoopd init --system --hood-name "$HOOD_NAME" --area dr5ru

echo "== the node as the stoop user"
runuser -u stoop -- env -u STATE_DIRECTORY stoopd run --data-dir /var/lib/stoop >"$TMP/node.log" 2>&1 &
NODE_PID=$!
if wait_for 60 bash -c 'grep -q "stoopd running" '"$TMP/node.log"; then pass "node started"; else
    fail "node started"
    tail -n 20 "$TMP/node.log"
fi
check "API token 0640 stoop:stoop" stat_is /var/lib/stoop/api.token "640 stoop stoop"
check "member: stoop status" as "$MEMBER" stoop status
check "member: the status is this node's hood" bash -c \
    "runuser -u $MEMBER -- env -u STATE_DIRECTORY stoop status --json | grep -q '$HOOD'"
check "member reads the token" as "$MEMBER" cat /var/lib/stoop/api.token
check "member cannot read the author key" fails_with "Permission denied" as "$MEMBER" cat /var/lib/stoop/author.key
check "outsider: stoop status refused, saying why" fails_with "stoop group" as "$OUTSIDER" stoop status
check "outsider: exit code 3 (unreachable)" bash -c \
    "runuser -u $OUTSIDER -- env -u STATE_DIRECTORY stoop status >/dev/null 2>&1; [ \$? = 3 ]"
TICKET=$(as "$MEMBER" stoop invite 2>/dev/null)
check "member: stoop invite" bash -c "[[ '$TICKET' == stoop2:* ]]"
check "outsider cannot read the token" fails_with "Permission denied" as "$OUTSIDER" cat /var/lib/stoop/api.token
pid=$NODE_PID
stop_node
check "node stopped" bash -c "! kill -0 $pid 2>/dev/null"
check "node flushed its store on SIGTERM" grep -q "store flushed" "$TMP/node.log"

echo "== remove, then purge"
check "dpkg -r" dpkg -r "$PKG"
check "remove: binaries and unit gone" bash -c '[ ! -e /usr/bin/stoopd ] && [ ! -e /usr/bin/stoop ] && [ ! -e /lib/systemd/system/stoopd.service ]'
check "remove: node, config and account kept" bash -c \
    '[ -e /var/lib/stoop/author.key ] && [ -e /etc/stoop/stoop.toml ] && getent passwd stoop >/dev/null'
check "dpkg --purge" dpkg --purge "$PKG"
check "purge: data, config, user and group gone" bash -c \
    '[ ! -e /var/lib/stoop ] && [ ! -e /etc/stoop ] && ! getent passwd stoop && ! getent group stoop'
check "purge: the household's accounts stay" getent passwd "$MEMBER"
check "purge: dpkg forgot the package" bash -c "! dpkg -s $PKG >/dev/null 2>&1"
check "purge: nothing of the package left on disk" bash -c \
    '[ -z "$(ls -d /usr/share/doc/stoop /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/stoopd.service 2>/dev/null)" ]'

echo "== reinstall after purge, stoopd join --system"
check "dpkg -i after purge" dpkg -i "$DEB"
cp /etc/stoop/stoop.toml "$TMP/stoop.toml"
echo "mdsn = false" >>/etc/stoop/stoop.toml
check "join --system with a broken config fails, naming the key" fails_with "mdsn" \
    stoopd join --system --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 "$TICKET"
check "... and leaves the directory to stoop, 0750" bash -c \
    'stat_is() { [ "$(stat -c "%a %U %G" "$1")" = "$2" ]; }; stat_is /var/lib/stoop "750 stoop stoop" && [ -z "$(find /var/lib/stoop ! -user stoop | head -n1)" ]'
cp "$TMP/stoop.toml" /etc/stoop/stoop.toml
stoopd join --system --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 "$TICKET" >"$TMP/join.out" 2>&1
check "join --system succeeds and says how to start" grep -q "systemctl start stoopd" "$TMP/join.out"
check "joined: author key 0600 stoop" stat_is /var/lib/stoop/author.key "600 stoop stoop"
check "joined: every file belongs to stoop" bash -c '[ -z "$(find /var/lib/stoop ! -user stoop -o ! -group stoop | head -n1)" ]'
check "joined: the ticket's peers are in /etc/stoop/stoop.toml" grep -q "^bootstrap = \[\"/ip4/127.0.0.1/tcp/" /etc/stoop/stoop.toml
check "dpkg --purge again" dpkg --purge "$PKG"
check "purge: gone again" bash -c '[ ! -e /var/lib/stoop ] && ! getent passwd stoop'

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
