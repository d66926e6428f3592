# What the setup and fetch scripts share; sourced, not run. The sourcing
# script defines `say` (its own name in front of what it reports).

# Run a command as root: directly when we are, else through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "need root (or sudo) to run: $*"
        return 1
    fi
}

# install_missing COMMAND:PACKAGE ...: install, from Debian's packages, the
# packages whose command is not on the PATH.
install_missing() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        # Standard output is the sourcing script's answer (a path): apt's
        # chatter goes to standard error.
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
