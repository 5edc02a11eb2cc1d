#!/usr/bin/env bash
# Asterisk 22 sandbox for ccqueue: a Debian sid root in a cache folder, entered
# with chroot, holding one or more Asterisk instances configured from the
# project's own files. Everything listens on 127.0.0.1 only.
#
# Usage: deploy/asterisk/sandbox.sh <command> [options]
#
#   build                         build (or reuse) the root; prints its path
#   root                          print the root path; exit 1 if not built
#   configure --instance NAME --config DIR
#             [--sip-port N] [--ami-port N] [--agi-port N] [--rtp-ports A-B]
#                                 write the instance's Asterisk config folder
#   start  --instance NAME        start Asterisk in the background (pid file)
#   wait   --instance NAME [--timeout S]   wait until fully booted (default 60 s)
#   stop   --instance NAME [--timeout S]   TERM, then KILL after S s (default 15)
#   rx     --instance NAME "cli command"   run one CLI command, print its output
#   status --instance NAME        "running <pid>" (exit 0) or "stopped" (exit 3)
#   paths  --instance NAME        print the instance's paths (KEY=value lines)
#   destroy --instance NAME       stop the instance and delete its folder
#   prune                         delete cached roots other than the current one
#                                 (those no running process uses)
#
# NAME is a short instance name ([A-Za-z0-9_.-]+); the instance lives in
# <root>/srv/ccqueue/NAME. Environment:
#   CCQUEUE_SANDBOX_CACHE   cache folder for roots (default /var/cache/ccqueue)
#   CCQUEUE_SANDBOX_ROOT    use this root instead of the cached one
#   CCQUEUE_DEBIAN_MIRROR   Debian mirror for debootstrap (default: debootstrap's)
#   CCQUEUE_SIP_PORT, CCQUEUE_AMI_PORT, CCQUEUE_AGI_PORT, CCQUEUE_RTP_PORTS
#                           defaults for the configure options
#   PYTHON                  interpreter for the render step (default python3)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
TEMPLATE_DIR="$SCRIPT_DIR/etc"

SUITE=sid
VARIANT=minbase
PACKAGES=(asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-core-sounds-ru-gsm
          asterisk-moh-opsound-gsm)
# Bump when the way the root is prepared changes, so cached roots are rebuilt.
RECIPE=2
MARKER=.ccqueue-sandbox-complete
INSTANCE_BASE=/srv/ccqueue          # inside the root

die() { echo "sandbox: $*" >&2; exit 1; }
log() { echo "sandbox: $*" >&2; }

cache_dir() { echo "${CCQUEUE_SANDBOX_CACHE:-/var/cache/ccqueue}"; }

root_hash() {
    printf '%s\n' "$SUITE" "$VARIANT" "$RECIPE" "${PACKAGES[@]}" | sha256sum | cut -c1-12
}

root_path() {
    if [[ -n "${CCQUEUE_SANDBOX_ROOT:-}" ]]; then
        echo "$CCQUEUE_SANDBOX_ROOT"
    else
        echo "$(cache_dir)/asterisk-$SUITE-$(root_hash)"
    fi
}

root_complete() { [[ -f "$1/$MARKER" && -x "$1/usr/sbin/asterisk" ]]; }

# Install host packages that are missing (quick when all are present).
ensure_host_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

cmd_build() {
    [[ $EUID -eq 0 ]] || die "build needs root (debootstrap, chroot)"
    local root; root=$(root_path)
    if root_complete "$root"; then
        echo "$root"
        return 0
    fi
    [[ -z "${CCQUEUE_SANDBOX_ROOT:-}" ]] || die "CCQUEUE_SANDBOX_ROOT=$root is not a complete root"
    ensure_host_packages debootstrap debian-archive-keyring util-linux
    local cache; cache=$(cache_dir)
    mkdir -p "$cache"
    # One build at a time per cache; a second caller waits, then reuses.
    exec 9>"$cache/.build.lock"
    flock 9
    if root_complete "$root"; then
        echo "$root"
        return 0
    fi
    # A folder at the final path without the marker is a leftover: never use it.
    if [[ -e "$root" ]]; then
        log "removing incomplete root $root"
        rm -rf --one-file-system "$root"
    fi
    # Leftovers of interrupted builds (we hold the lock: nobody else is building).
    rm -rf --one-file-system "$cache"/.build-asterisk-* 2>/dev/null || true
    local tmp="$cache/.build-$(basename "$root").$$"
    # An interrupted build leaves nothing behind (the next build would remove it too).
    # shellcheck disable=SC2064
    trap "rm -rf --one-file-system '$tmp'" EXIT
    trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
    local includes; includes=$(IFS=,; echo "${PACKAGES[*]}")
    local started=$SECONDS
    log "debootstrap $SUITE ($VARIANT) with $includes into $tmp"
    # shellcheck disable=SC2086
    debootstrap --variant="$VARIANT" --include="$includes" "$SUITE" "$tmp" \
        ${CCQUEUE_DEBIAN_MIRROR:-} >&2 \
        || { rm -rf --one-file-system "$tmp"; die "debootstrap failed"; }
    # Files the asterisk package made for its own user are unreadable for root
    # here; the project's instances use folders of their own, but keep the
    # packaged ones usable too.
    local d
    for d in etc/asterisk var/lib/asterisk var/spool/asterisk var/log/asterisk var/cache/asterisk; do
        [[ -e "$tmp/$d" ]] && chown -R root:root "$tmp/$d"
    done
    mkdir -p "$tmp/run/asterisk" "$tmp$INSTANCE_BASE"
    # Russian prompts under the language code Asterisk looks them up by.
    [[ -e "$tmp/usr/share/asterisk/sounds/ru" ]] \
        || ln -s ru_RU_f_IvrvoiceRU "$tmp/usr/share/asterisk/sounds/ru"
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* 2>/dev/null || true
    chroot "$tmp" /usr/sbin/asterisk -V >"$tmp/$MARKER.version" 2>&1 \
        || { rm -rf --one-file-system "$tmp"; die "asterisk does not run in the new root"; }
    printf 'suite=%s\nvariant=%s\nrecipe=%s\npackages=%s\nasterisk=%s\nbuilt=%s\n' \
        "$SUITE" "$VARIANT" "$RECIPE" "${PACKAGES[*]}" "$(cat "$tmp/$MARKER.version")" \
        "$(date -u +%FT%TZ)" >"$tmp/$MARKER"
    rm -f "$tmp/$MARKER.version"
    mv -T "$tmp" "$root"
    trap - EXIT
    log "root ready in $((SECONDS - started)) s"
    echo "$root"
}

# ---- instances ----------------------------------------------------------------

INSTANCE=""
require_root() {
    ROOT=$(root_path)
    root_complete "$ROOT" || die "no sandbox root at $ROOT (run: $0 build)"
}
set_instance() {
    [[ -n "$INSTANCE" ]] || die "--instance NAME is required"
    [[ "$INSTANCE" =~ ^[A-Za-z0-9_.-]+$ && "$INSTANCE" != "." && "$INSTANCE" != ".." ]] \
        || die "bad instance name '$INSTANCE' (use letters, digits, _ . -)"
    IN_CHROOT="$INSTANCE_BASE/$INSTANCE"    # path as Asterisk sees it
    INST="$ROOT$IN_CHROOT"                  # path on the host
    CONF_IN_CHROOT="$IN_CHROOT/etc/asterisk.conf"
    PIDFILE="$INST/asterisk.pid"
    OUTLOG="$INST/log/asterisk.out"
}

asterisk_in_root() { chroot "$ROOT" /usr/sbin/asterisk -C "$CONF_IN_CHROOT" "$@"; }

# pid from the pid file, only if that process is still this instance's Asterisk
running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid; pid=$(<"$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF_IN_CHROOT" || return 1
    echo "$pid"
}

cmd_paths() {
    echo "ROOT=$ROOT"
    echo "INSTANCE=$INST"
    echo "INSTANCE_IN_ROOT=$IN_CHROOT"
    echo "ETC=$INST/etc"
    echo "ASTERISK_CONF=$INST/etc/asterisk.conf"
    echo "ASTERISK_CONF_IN_ROOT=$CONF_IN_CHROOT"
    echo "LOG_DIR=$INST/log"
    echo "FULL_LOG=$INST/log/full"
    echo "OUT_LOG=$OUTLOG"
    echo "PIDFILE=$PIDFILE"
    echo "SOUNDS=$ROOT$(chroot "$ROOT" readlink -f /usr/share/asterisk/sounds/en)/ccqueue"
}

cmd_configure() {
    local config="" sip_port="${CCQUEUE_SIP_PORT:-}" ami_port="${CCQUEUE_AMI_PORT:-}"
    local agi_port="${CCQUEUE_AGI_PORT:-}" rtp_ports="${CCQUEUE_RTP_PORTS:-}"
    while (($#)); do
        case "$1" in
            --config) config=$2; shift 2 ;;
            --sip-port) sip_port=$2; shift 2 ;;
            --ami-port) ami_port=$2; shift 2 ;;
            --agi-port) agi_port=$2; shift 2 ;;
            --rtp-ports) rtp_ports=$2; shift 2 ;;
            *) die "configure: unknown option $1" ;;
        esac
    done
    [[ -n "$config" && -d "$config" ]] || die "configure: --config DIR (the project's YAML folder) is required"
    if running_pid >/dev/null; then
        log "note: instance $INSTANCE is running; the new config applies at its next start"
    fi
    local etc="$INST/etc"
    local new="$INST/.etc.new.$$"
    rm -rf "$new"
    mkdir -p "$new" "$INST"/{log,run,spool,lib,cache} "$INST/spool/ccqueue-messages"
    cp "$TEMPLATE_DIR"/*.conf "$new/"
    cp "$REPO_DIR"/dialplan/*.conf "$new/"
    local args=(--config "$config" --out "$new")
    [[ -n "$sip_port" ]] && args+=(--sip-port "$sip_port")
    [[ -n "$ami_port" ]] && args+=(--ami-port "$ami_port")
    [[ -n "$agi_port" ]] && args+=(--agi-port "$agi_port")
    [[ -n "$rtp_ports" ]] && args+=(--rtp-ports "$rtp_ports")
    PYTHONPATH="$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" \
        -m ccqueue.asterisk.render "${args[@]}" \
        || { rm -rf "$new"; die "configure: rendering the config failed"; }
    cat >"$new/asterisk.conf" <<EOF
; Asterisk main config for the ccqueue sandbox instance '$INSTANCE'.
; Paths are as Asterisk sees them inside the sandbox root.
[directories]
astetcdir => $IN_CHROOT/etc
astvarlibdir => /var/lib/asterisk
astdbdir => $IN_CHROOT/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => $IN_CHROOT/spool
astrundir => $IN_CHROOT/run
astlogdir => $IN_CHROOT/log
astcachedir => $IN_CHROOT/cache

[options]
verbose = 3
debug = 0
documentation_language = en_US
hideconnects = yes
EOF
    chown -R root:root "$new"
    chmod 0750 "$new"
    chmod 0640 "$new"/*.conf
    rm -rf "$etc"
    mv -T "$new" "$etc"
    # Project prompts, where dialplan and AGI find them as ccqueue/<name>.
    # (sounds/en is an absolute symlink inside the root: resolve it there)
    local sounds
    sounds="$ROOT$(chroot "$ROOT" readlink -f /usr/share/asterisk/sounds/en)/ccqueue"
    mkdir -p "$sounds"
    local f
    for f in "$REPO_DIR"/sounds/en/*.wav; do
        [[ -e "$f" ]] && install -m 0644 "$f" "$sounds/"
    done
    # Russian prompts, where Asterisk looks for them when a channel's language is ru.
    sounds="$ROOT$(chroot "$ROOT" readlink -f /usr/share/asterisk/sounds/ru)/ccqueue"
    mkdir -p "$sounds"
    for f in "$REPO_DIR"/sounds/ru/*.wav; do
        [[ -e "$f" ]] && install -m 0644 "$f" "$sounds/"
    done
    cmd_paths
}

cmd_start() {
    [[ -f "$INST/etc/asterisk.conf" ]] || die "instance $INSTANCE is not configured"
    if pid=$(running_pid); then
        log "instance $INSTANCE already running (pid $pid)"
        echo "$pid"
        return 0
    fi
    mkdir -p "$INST"/{log,run,spool,lib,cache} "$INST/spool/ccqueue-messages" "$ROOT/run/asterisk"
    rm -f "$INST/run/asterisk.ctl" "$PIDFILE"
    # chroot execs asterisk, so $! is Asterisk's own pid.
    nohup chroot "$ROOT" /usr/sbin/asterisk -f -U root -C "$CONF_IN_CHROOT" \
        </dev/null >>"$OUTLOG" 2>&1 &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    echo "$pid"
}

cmd_wait() {
    local timeout=60
    while (($#)); do
        case "$1" in
            --timeout) timeout=$2; shift 2 ;;
            *) die "wait: unknown option $1" ;;
        esac
    done
    local deadline=$((SECONDS + timeout)) left
    while :; do
        running_pid >/dev/null || { tail -n 30 "$OUTLOG" >&2 2>/dev/null || true; die "asterisk ($INSTANCE) is not running"; }
        left=$((deadline - SECONDS))
        ((left > 0)) || die "asterisk ($INSTANCE) not fully booted after ${timeout} s"
        if [[ -S "$INST/run/asterisk.ctl" ]] \
            && timeout "$left" chroot "$ROOT" /usr/sbin/asterisk -C "$CONF_IN_CHROOT" \
                -rx 'core waitfullybooted' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
}

cmd_stop() {
    local timeout=15
    while (($#)); do
        case "$1" in
            --timeout) timeout=$2; shift 2 ;;
            *) die "stop: unknown option $1" ;;
        esac
    done
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "asterisk ($INSTANCE, pid $pid) did not stop in ${timeout} s: KILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PIDFILE" "$INST/run/asterisk.ctl"
}

cmd_destroy() {
    cmd_stop
    rm -rf --one-file-system "$INST"
}

cmd_prune() {
    local root cache d pid busy
    root=$(root_path); cache=$(cache_dir)
    [[ -d "$cache" ]] || return 0
    exec 9>"$cache/.build.lock"
    flock 9
    for d in "$cache"/asterisk-*; do
        [[ -d "$d" && "$d" != "$root" ]] || continue
        busy=""
        for pid in /proc/[0-9]*; do
            [[ "$(readlink "$pid/root" 2>/dev/null)" == "$d" ]] && { busy=${pid#/proc/}; break; }
        done
        if [[ -n "$busy" ]]; then
            log "keeping $d (in use by pid $busy)"
        else
            log "removing $d"
            rm -rf --one-file-system "$d"
        fi
    done
}

cmd_rx() {
    (($# == 1)) || die "rx: one CLI command (quoted) is required"
    running_pid >/dev/null || die "asterisk ($INSTANCE) is not running"
    asterisk_in_root -rx "$1"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "running $pid"
    else
        echo "stopped"
        return 3
    fi
}

main() {
    (($#)) || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
    local cmd=$1; shift
    case "$cmd" in
        build) cmd_build; return ;;
        prune) cmd_prune; return ;;
        root) ROOT=$(root_path); root_complete "$ROOT" || die "not built: $ROOT"; echo "$ROOT"; return ;;
        -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; return ;;
    esac
    local rest=()
    while (($#)); do
        case "$1" in
            --instance) INSTANCE=$2; shift 2 ;;
            *) rest+=("$1"); shift ;;
        esac
    done
    require_root
    set_instance
    case "$cmd" in
        configure) cmd_configure "${rest[@]}" ;;
        start) cmd_start "${rest[@]}" ;;
        wait) cmd_wait "${rest[@]}" ;;
        stop) cmd_stop "${rest[@]}" ;;
        rx) cmd_rx "${rest[@]}" ;;
        status) cmd_status "${rest[@]}" ;;
        paths) cmd_paths ;;
        destroy) cmd_destroy ;;
        *) die "unknown command '$cmd' (try: $0 help)" ;;
    esac
}

main "$@"
