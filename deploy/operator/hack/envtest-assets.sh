#!/usr/bin/env bash
# Builds the binaries controller-runtime's envtest needs -- kube-apiserver and
# kubectl (Kubernetes v1.34.4) and etcd (v3.6.4) -- from Go modules, into a
# cache folder, and prints that folder's absolute path on stdout (use it as
# KUBEBUILDER_ASSETS). Progress goes to stderr.
#
#   usage: deploy/operator/hack/envtest-assets.sh [DIR]
#   DIR defaults to ${SR_ENVTEST_DIR:-$HOME/.cache/sglang-router/envtest/k8s-1.34.4-etcd-3.6.4}
#
# If DIR already holds the three working binaries, nothing is built. Otherwise
# they are built in a temporary folder beside DIR, checked, and moved into place
# with a rename, so an interrupted build never leaves a folder that a later run
# trusts. The wrapper modules (go.mod + go.sum pinning every dependency) are in
# envtest-assets/kubernetes and envtest-assets/etcd next to this script.
#
# A cold build takes about 3-4 minutes on 2 cores and ~2.5 GB of Go build cache,
# and needs only the Go module proxy.
#
# Environment:
#   GO                       go binary (default: go on PATH, else /usr/local/go/bin/go)
#   SR_ENVTEST_DIR           default DIR
#   SR_ENVTEST_GOTOOLCHAIN   GOTOOLCHAIN for the build (default: local; the wrapper
#                            modules need go >= 1.24.0, e.g. set go1.26.8 to have go
#                            fetch that toolchain through the module proxy)
#   SR_ENVTEST_NICE          niceness of the builds (default: 10)
set -euo pipefail

readonly K8S_VERSION=v1.34.4
readonly ETCD_VERSION=3.6.4
readonly K8S_MAJOR=1 K8S_MINOR=34
readonly GO_MIN_MINOR=24 # the wrapper modules (and k8s.io/kubernetes) say `go 1.24.0`

log() { printf 'envtest-assets: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mods=$here/envtest-assets

dir=${1:-${SR_ENVTEST_DIR:-${HOME:?HOME is not set; pass DIR}/.cache/sglang-router/envtest/k8s-1.34.4-etcd-3.6.4}}
[[ -n $dir ]] || die "DIR is empty"
[[ $dir == /* ]] || dir=$PWD/$dir
while [[ $dir == */ && $dir != / ]]; do dir=${dir%/}; done
[[ $dir != / ]] || die "refusing to use / as DIR"

# check_assets FOLDER: succeeds if FOLDER holds the three binaries at the
# expected versions and they run.
check_assets() {
	local d=$1 out
	[[ -x $d/kube-apiserver && -x $d/kubectl && -x $d/etcd ]] || return 1
	out=$("$d/kube-apiserver" --version 2>/dev/null) || return 1
	[[ $out == "Kubernetes $K8S_VERSION" ]] || return 1
	out=$("$d/kubectl" version --client 2>/dev/null) || return 1
	[[ $out == *"Client Version: $K8S_VERSION"* ]] || return 1
	out=$("$d/etcd" --version 2>/dev/null) || return 1
	[[ $out == *"etcd Version: $ETCD_VERSION"* ]] || return 1
}

if check_assets "$dir"; then
	printf '%s\n' "$dir"
	exit 0
fi

# --- build -------------------------------------------------------------------

GO=${GO:-$(command -v go || true)}
if [[ -z $GO && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi
[[ -n $GO ]] || die "go not found: install Go >= 1.$GO_MIN_MINOR (or set GO=/path/to/go); it is needed to build the envtest binaries into $dir"
command -v "$GO" >/dev/null 2>&1 || die "go not found at GO=$GO"

for f in kubernetes/go.mod kubernetes/go.sum etcd/go.mod etcd/go.sum etcd/main.go; do
	[[ -f $mods/$f ]] || die "missing $mods/$f"
done

# The local go is new enough (go 1.26 here); GOTOOLCHAIN=local keeps go from
# switching toolchains behind our back. An older go fails with a clear message.
export GOTOOLCHAIN=${SR_ENVTEST_GOTOOLCHAIN:-local}
export GOWORK=off GO111MODULE=on CGO_ENABLED=0
# Reproducible: dependencies come only from the committed go.mod/go.sum files.
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
goversion=$("$GO" env GOVERSION 2>/dev/null) || die "'$GO env GOVERSION' failed (GOTOOLCHAIN=$GOTOOLCHAIN)"
if [[ $GOTOOLCHAIN == local && $goversion =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < GO_MIN_MINOR)); then
	die "$GO is $goversion but the build needs go >= 1.$GO_MIN_MINOR.0; install a newer Go or set SR_ENVTEST_GOTOOLCHAIN=go1.26.8 to fetch one through the Go module proxy"
fi
GOOS=$("$GO" env GOHOSTOS) GOARCH=$("$GO" env GOHOSTARCH)
export GOOS GOARCH

nice_cmd=()
if command -v nice >/dev/null 2>&1; then nice_cmd=(nice -n "${SR_ENVTEST_NICE:-10}"); fi

parent=$(dirname "$dir")
base=$(basename "$dir")
mkdir -p "$parent"

# Serialize concurrent runs for the same DIR; whoever waits re-checks first.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$parent/.$base.lock"
	flock 9
	if check_assets "$dir"; then
		printf '%s\n' "$dir"
		exit 0
	fi
	# Holding the lock, leftovers of killed runs can go.
	rm -rf "$parent/.$base.tmp."* "$parent/.$base.old."*
fi

tmp=$(mktemp -d "$parent/.$base.tmp.XXXXXX")
old=
cleanup() { rm -rf "$tmp" ${old:+"$old"}; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building envtest binaries (kube-apiserver, kubectl $K8S_VERSION; etcd v$ETCD_VERSION) with $goversion, GOTOOLCHAIN=$GOTOOLCHAIN"
log "into $dir (cold: ~3-4 min on 2 cores, ~2.5 GB Go build cache)"
start=$SECONDS

# Same version variables as Kubernetes' hack/lib/version.sh sets: kubectl's
# client version comes from k8s.io/client-go/pkg/version, the servers' from
# k8s.io/component-base/version.
k8s_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean"
done

log "etcd ..."
(cd "$mods/etcd" && "${nice_cmd[@]}" "$GO" build -ldflags "-s -w" -o "$tmp/etcd" .) ||
	die "building etcd failed"
log "kube-apiserver and kubectl ..."
(cd "$mods/kubernetes" && "${nice_cmd[@]}" "$GO" build -ldflags "$k8s_ldflags" -o "$tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl) ||
	die "building kube-apiserver/kubectl failed"

check_assets "$tmp" || die "the freshly built binaries in $tmp do not report the expected versions"
chmod 755 "$tmp"

# Swap into place: a rename cannot replace a non-empty folder, so a stale or
# broken DIR is first renamed aside. DIR is never a partly filled folder.
if [[ -e $dir || -L $dir ]]; then
	old=$(mktemp -d "$parent/.$base.old.XXXXXX")
	mv "$dir" "$old/"
fi
mv "$tmp" "$dir"
log "done in $((SECONDS - start)) s"
printf '%s\n' "$dir"
