# Shared by the container tests (sourced, not run): podman as it works on these machines, and the local Debian
# bookworm base image (no registry can be reached). Recipe: shared/notes/containers.md.
#
#   source scripts/lib/podman.sh
#   podman_setup                       # checks root and the tools, configures podman; sets the array P
#   ensure_bookworm_image IMAGE WORK   # debootstraps a minbase root into IMAGE unless it exists (cached)

# Needs: a `die` function and a `log` function in the sourcing script.
podman_setup() {
    [ "$(id -u)" = 0 ] || die "run as root (podman with runc and cgroupfs, as in shared/notes/containers.md)"
    local tool
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null || die "\`$tool\` is missing
hint: \`apt-get install -y podman runc debootstrap\`"
    done
    # crun fails here (setrlimit / cgroups): runc with cgroupfs, and no default ulimits.
    if ! grep -qs 'default_ulimits = \[\]' /etc/containers/containers.conf; then
        mkdir -p /etc/containers
        printf '[containers]\ndefault_ulimits = []\n' >>/etc/containers/containers.conf
    fi
    P=(podman --runtime runc --cgroup-manager=cgroupfs)
}

# A Debian bookworm `--variant=minbase` root imported as IMAGE (~30-80 s the first time, then cached).
ensure_bookworm_image() {
    local image=$1 work=$2
    if "${P[@]}" image exists "$image"; then return 0; fi
    log "debootstrapping $image"
    debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$work/rootfs" -c . | "${P[@]}" import - "$image" >/dev/null
    rm -rf "$work/rootfs"
}
